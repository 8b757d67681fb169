"""python -m solo_coss.hosts.solo_learn {pretrain,linear} --config-path ... --config-name ... [overrides]"""

import sys

from solo_coss.hosts.errors import one_line_errors
from solo_coss.hosts.solo_learn import run

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    with one_line_errors("solo-learn host"):
        run(sys.argv[1], sys.argv[2:])
