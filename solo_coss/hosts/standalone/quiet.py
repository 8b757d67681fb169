"""A normal run's output says what the run is and where it goes, without Lightning's noise: the model summary
names the method as the config does (``co_byol``, not the class ``BYOL``) and has no FLOPs column (Lightning
counts FLOPs only with an example input: it would print 0); Lightning's litlogger tip, torch's LeafSpec
deprecation (raised inside Lightning), the log_every_n_steps warning of short epochs (steps are counted
across epochs, so nothing is lost) and Lightning's notes on its own internals are filtered while the run is
set up and fitted, and only then."""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

from lightning.pytorch.callbacks import RichModelSummary
from lightning.pytorch.utilities.model_summary import summarize
from lightning.pytorch.utilities.model_summary.model_summary import get_human_readable_count

NOISE_WARNINGS = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    r"The number of training batches \(\d+\) is smaller than the logging interval",
    r"Precision .* is not supported by the model summary",
    # the run folder holds config.json (written first) and, on resume, our own checkpoints: no conflict
    r"Checkpoint directory .* exists and is not empty",
)
NOISE_LOGS = (
    "litlogger",
    "Skipping setting a default `ModelSummary`",
    "to estimate number of stepping batches",
)
# lightning_utilities' rank_zero_info logs through the logger of whichever of lightning / pytorch_lightning
# was imported last (each sets it at import), and lightly imports pytorch_lightning: filter all of them.
LIGHTNING_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                     "pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in NOISE_LOGS)


# solo-coss-linear keeps the pretrained backbone in eval mode on purpose (solo-learn's frozen backbone)
FROZEN_BACKBONE = r"Found \d+ module\(s\) in eval mode at the start of training"
# Lightning cannot see that checkpoint.every_n_steps makes a mid-epoch resume exact (our sampler skips what
# the checkpointed steps consumed, resumable.ResumeCallback), and says the opposite
NOT_RESUMABLE = r"You're resuming from a checkpoint that ended before the epoch ended and your dataloader"
# a new run started from another run's checkpoint writes into its own folder, as the run's first line says
DIRPATH_CHANGED = r"The dirpath has changed from"


def resume_notes(resume_from: str | None, folder: Path, exact: bool) -> list[str]:
    """The warnings a resume from ``resume_from`` into ``folder`` raises by design (``quiet_lightning``'s)."""
    if not resume_from:
        return []
    return [*([NOT_RESUMABLE] if exact else []),
            *([DIRPATH_CHANGED] if Path(resume_from).resolve().parent != folder.resolve() else [])]


@contextmanager
def quiet_lightning(*expected: str):
    """``expected``: further warnings (regexes) that are by design in this run."""
    noise = _DropNoise()
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    for logger in loggers:
        logger.addFilter(noise)
    try:
        with warnings.catch_warnings():
            for message in (*NOISE_WARNINGS, *expected):
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(noise)


class RunSummary(RichModelSummary):
    """Lightning's rich model summary with the method's config name as the type of ``method``, no FLOPs and
    no size estimate (which warns under mixed precision)."""

    def __init__(self, names: dict[str, str], max_depth: int = 1):
        super().__init__(max_depth=max_depth)
        self.names = names  # module name -> what to call its type

    def on_fit_start(self, trainer, pl_module) -> None:
        if not self._max_depth or not trainer.is_global_zero:
            return
        from rich import get_console
        from rich.table import Table

        summary = summarize(pl_module, max_depth=self._max_depth)
        columns = dict(summary._get_summary_data())
        columns["Type"] = [self.names.get(n, t) for n, t in zip(columns["Name"], columns["Type"])]
        shown = [c for c in columns if c != "FLOPs"]
        table = Table(header_style="bold magenta")
        for c in shown:
            table.add_column(
                c if c else " ", justify="right" if c == "Params" else "left", style="dim" if not c else None
            )
        for row in zip(*(columns[c] for c in shown)):
            table.add_row(*row)
        console = get_console()
        console.print(table)
        total, trainable = summary.total_parameters, summary.trainable_parameters
        console.print(
            f"Trainable params: {get_human_readable_count(trainable)}  Non-trainable params: "
            f"{get_human_readable_count(total - trainable)}  Total params: {get_human_readable_count(total)}"
        )
