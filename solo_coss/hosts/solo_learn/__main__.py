"""python -m solo_coss.hosts.solo_learn {pretrain,linear} --config-path ... --config-name ... [overrides]"""

import sys

from solo_coss.hosts.solo_learn import run

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    try:
        run(sys.argv[1], sys.argv[2:])
    except ValueError as err:
        sys.exit(f"solo-learn host: error: {err}")
