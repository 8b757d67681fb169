"""How every console script and launch script ends on a user's mistake: one line, ``<prog>: error: <what>``,
exit status 1, no traceback. The line is the exception's own message (``solo_coss.core.keys.refuse`` writes
those that name a key) with its whitespace folded; an error re-raised from a DataLoader worker is shown as
the worker's exception, not as torch's copy of its traceback.

    with one_line_errors("solo-coss-knn"):
        run()
"""

from __future__ import annotations

import re
import sys
import warnings
from contextlib import contextmanager

# torchmetrics (imported by Lightning) imports setuptools' pkg_resources, which warns at import on recent
# setuptools; it says nothing about the run
warnings.filterwarnings("ignore", message="pkg_resources is deprecated as an API", category=UserWarning)


def user_error_types() -> tuple[type[BaseException], ...]:
    """The exceptions a mistake in a config, a path, a file or the data raises (any other: a bug)."""
    from hydra.errors import HydraException
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from omegaconf.errors import OmegaConfBaseException

    from solo_coss.hosts.standalone.module import NonFiniteLossError

    return (ValueError, OSError, HydraException, OmegaConfBaseException, MisconfigurationException,
            NonFiniteLossError)


WORKER_TRACEBACK = re.compile(r"Caught \w+ in DataLoader worker process \d+\.\s*Original Traceback")


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line. For an error a DataLoader worker raised, the original message
    (torch puts the worker's whole traceback into the message it re-raises)."""
    text = str(err)
    if WORKER_TRACEBACK.search(text):
        last = text.strip().splitlines()[-1]
        named = re.match(r"^[\w.]+(Error|Exception)\b", last) and ": " in last  # "pkg.SomeError: message"
        text = last.split(": ", 1)[1] if named else last
    return " ".join(text.split())


@contextmanager
def one_line_errors(prog: str):
    """Run the block; a user error (``user_error_types``) exits with ``<prog>: error: <one line>``."""
    try:
        yield
    except Exception as err:
        if not isinstance(err, user_error_types()):
            raise
        sys.exit(f"{prog}: error: {one_line(err)}")
