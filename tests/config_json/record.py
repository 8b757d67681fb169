"""Record what every shipped pretraining YAML resolves to (config.json's content) with the solo-coss checkout
given, for tests/test_config_json.py to check the current code against.

Usage: python tests/config_json/record.py CHECKOUT OUT.json   (OUT: e.g. tests/config_json/<commit>.json)
CHECKOUT is a solo-coss source tree (e.g. a `git worktree add` of an earlier commit); its code resolves its
own shipped YAMLs. Precision is pinned (``precision=32``): ``auto`` resolves by the CPU's bf16 support.
"""

import json
import subprocess
import sys
from pathlib import Path

OVERRIDES = ["++precision=32"]

RESOLVE = """
import json, sys
from pathlib import Path
from solo_coss.hosts.standalone.config import load_config, resolve_pretrain_config
root = Path("scripts/pretrain")
out = {}
for path in sorted(root.glob("*/*.yaml")):
    if path.stem == "base" or path.parent.name == "solo-learn":
        continue
    cfg = resolve_pretrain_config(load_config(str(path.parent), path.name, OVERRIDES))
    out[f"{path.parent.name}/{path.name}"] = json.loads(json.dumps(cfg, default=str))
json.dump(out, sys.stdout, indent=1, sort_keys=True)
"""


def main(checkout: str, out: str) -> None:
    code = f"OVERRIDES = {OVERRIDES!r}\n{RESOLVE}"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=checkout,
        env={"PYTHONPATH": checkout, "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    Path(out).write_text(result.stdout + "\n")
    print(f"{len(json.loads(result.stdout))} configs -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
