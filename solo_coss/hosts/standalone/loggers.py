"""The standalone host's loggers: CSV (``logs/metrics.csv``, what our tools read, appended across the launches
of a run), TensorBoard (``tb/``) and,
with ``wandb.enabled``, Weights & Biases set up as solo-learn's main_pretrain / main_linear set it up (run
name = ``name``, ``wandb.project`` / ``entity`` / ``offline``, gradients watched every 100 steps, the
resolved config as the run's config). Ours: ``wandb.tags``, and the run's files go to ``RUN/wandb``.

Offline mode needs no account and no network: ``wandb sync RUN/wandb/offline-run-*`` uploads it later.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger

from solo_coss.hosts.standalone.config import record
from solo_coss.hosts.standalone.run_folder import HistoryCSVLogger

WANDB_PIN = "wandb==0.31.0"


def _check_wandb_block(wandb: dict[str, Any]) -> None:
    tags = wandb.get("tags")
    if tags is not None and not (isinstance(tags, (list, tuple)) and all(isinstance(t, str) for t in tags)):
        raise ValueError(f"wandb.tags={tags!r}: give a list of strings, e.g. wandb.tags=[cifar,co_byol]")
    try:
        import wandb as _  # noqa: F401
    except ImportError as err:
        raise ValueError(
            f"wandb.enabled=true needs the wandb package ({err}); pip install {WANDB_PIN}"
        ) from None


def previous_wandb_id(out: Path) -> str | None:
    """The wandb run id of the run folder's last wandb run (``wandb/latest-run`` -> ``...-run-<date>-<id>``),
    so that a resumed training continues the same wandb run, as solo-learn's auto-resumer does."""
    latest = out / "wandb" / "latest-run"
    if not latest.exists():
        return None
    return latest.resolve().name.rsplit("-", 1)[-1]


def build_loggers(
    cfg: dict[str, Any], out: Path, *, tensorboard: bool = True, resuming: bool = False
) -> list:
    loggers = [HistoryCSVLogger(str(out), name="logs", version="")]
    if tensorboard:
        loggers.append(TensorBoardLogger(str(out), name="tb", version=""))
    wandb = cfg.get("wandb") or {}
    if wandb.get("enabled"):
        _check_wandb_block(wandb)
        from lightning.pytorch.loggers import WandbLogger

        run_id = previous_wandb_id(out) if resuming else None
        logger = WandbLogger(name=cfg["name"], project=wandb.get("project") or "solo-learn",
                             entity=wandb.get("entity"), offline=bool(wandb.get("offline")),
                             tags=list(wandb.get("tags") or []) or None, save_dir=str(out), id=run_id,
                             resume="allow" if run_id else None)
        if logger._wandb_init.get("anonymous") is None:  # Lightning passes None, wandb >= 0.19 warns about it
            logger._wandb_init.pop("anonymous", None)
        loggers.append(logger)
    return loggers


def wandb_of(trainer) -> Any:
    from lightning.pytorch.loggers import WandbLogger

    return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)


def start_wandb(trainer, model, cfg: dict[str, Any]) -> None:
    """Start the wandb run now (rank 0; solo-learn does it before fitting too), so that a failure to set it
    up (no login, no network) shows before training, not after the first epoch. Raises ValueError."""
    logger = wandb_of(trainer)
    if logger is None or not trainer.is_global_zero:
        return
    try:
        logger.experiment  # noqa: B018  (wandb.init)
    # wandb raises its own errors (UsageError, CommError, ...): report them in one line
    except Exception as err:
        online = not cfg["wandb"].get("offline") and os.environ.get("WANDB_MODE") not in (
            "offline",
            "disabled",
        )
        hint = (
            " (online mode needs `wandb login` or WANDB_API_KEY, and the network; wandb.offline=true needs "
            "neither)"
            if online
            else ""
        )
        raise ValueError(f"wandb setup failed: {type(err).__name__}: {err}{hint}") from None
    logger.watch(model, log="gradients", log_freq=100)
    logger.log_hyperparams(record(cfg))


def finish_wandb(trainer) -> None:
    """Close the wandb run (its summary is written then), so that the next run of the same process, e.g. a
    study's, starts its own."""
    logger = wandb_of(trainer)
    if logger is not None and trainer.is_global_zero and logger._experiment is not None:
        logger.experiment.finish()


def missing_root(folder: Path) -> Path | None:
    """The outermost folder of ``folder``'s path that does not exist yet (None: it exists)."""
    folder = folder.absolute()
    if folder.exists():
        return None
    while not folder.parent.exists():
        folder = folder.parent
    return folder


@contextmanager
def removed_if_setup_fails(created: Path | None):
    """``created``: what ``missing_root`` said before the run made its folder. If the block raises, that
    folder is removed again (a run that never started leaves nothing behind); nothing that existed before
    the run is touched."""
    try:
        yield
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
