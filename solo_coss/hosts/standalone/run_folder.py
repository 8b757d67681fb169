"""Run folders of the standalone host, kept as solo-learn keeps them: every run has its own folder
``<checkpoint.dir>/<name>/<id>/`` (solo-learn: ``<checkpoint.dir>/<method>/<id>/``), and ``auto_resume``
continues a run only when the identifying keys of its ``config.json`` equal the new config's (solo-learn's
``AutoResumer.SHOULD_MATCH``, plus a few of ours); any other config starts a new run beside it, so a run is
never written over. ``<checkpoint.dir>/<name>/latest`` points at the run launched last that holds a
checkpoint.

A run is a run once its first checkpoint is written (or, without checkpoints, once it finished): a launch
that stops before then removes its folder, and a folder left by a launch killed before then (no checkpoint,
not finished) is skipped by ``latest``, auto_resume and the evaluation tools (``runs_under``).

A resumed run keeps its history: ``logs/metrics.csv`` is appended to, and ``train_time.json`` holds one part
per launch with the seconds summed; a launch that was killed is marked so by the next one.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn

from solo_coss.core.keys import refuse
from solo_coss.hosts.safe_load import unreadable
from solo_coss.hosts.standalone.config import record

# solo-learn's AutoResumer.SHOULD_MATCH, then ours: what else makes a resumed run another run (its seed, the
# CO term, the augmentations, the images and their classes, a max_steps budget).
SOLO_SHOULD_MATCH = ("name", "backbone", "method", "data.dataset", "max_epochs", "optimizer.name",
                     "optimizer.batch_size", "optimizer.lr", "optimizer.weight_decay", "wandb.project",
                     "wandb.entity", "pretrained_feature_extractor")
IDENTITY_KEYS = (*SOLO_SHOULD_MATCH, "max_steps", "seed", "method_kwargs", "augmentations", "data.train_path",
                 "data.val_path", "data.fraction", "data.no_labels", "data.num_classes", "finetune")
LATEST = "latest"
TRAIN_TIME = "train_time.json"


def lookup(cfg: dict[str, Any], dotted: str) -> Any:
    value: Any = cfg
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def differences(saved: dict[str, Any], cfg: dict[str, Any], keys=IDENTITY_KEYS) -> list[str]:
    """``key: saved -> new`` for every identifying key whose value differs."""
    def short(value) -> str:
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + "..."

    return [f"{k}: {short(lookup(saved, k))} -> {short(lookup(cfg, k))}" for k in keys
            if lookup(saved, k) != lookup(cfg, k)]


def leaf_differences(saved: dict[str, Any], cfg: dict[str, Any], prefix: str = "") -> list[str]:
    """Every dotted key whose value differs (what a resumed launch changed in non-identifying keys)."""
    out = []
    for key in sorted(set(saved) | set(cfg)):
        a, b = saved.get(key), cfg.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += leaf_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def say(line: str) -> None:
    """A line for the user, from rank 0 only."""
    if rank_zero_only.rank == 0:
        print(line, flush=True)


def new_run_id(base: Path) -> str:
    """The start time to 1/65536 s, so names sort in start order even within one second (the 4 hex digits are
    the fraction of the second); a name already taken under ``base`` is never reused."""
    while True:
        now = time.time()
        run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{int(now % 1 * 65536):04x}"
        if not (base / run_id).exists():
            return run_id
        time.sleep(1 / 65536)


def read_config(folder: Path) -> dict[str, Any] | None:
    path = folder / "config.json"
    return json.loads(path.read_text()) if path.is_file() else None


def has_checkpoint(folder: Path) -> bool:
    return any(folder.glob("*.ckpt"))


def is_run(folder: Path) -> bool:
    """A folder that became a run: it holds a checkpoint, or its training finished (checkpoints disabled)."""
    return (folder / "config.json").is_file() and (has_checkpoint(folder) or is_finished(folder))


def runs_under(base: Path) -> list[Path]:
    """The run folders of one name, oldest first (the folder of a launch killed before its first checkpoint
    is not one)."""
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.is_symlink() and is_run(p))


def read_train_time(folder: Path) -> dict[str, Any]:
    path = folder / TRAIN_TIME
    if not path.is_file():
        return {"seconds": 0.0, "parts": []}
    record = json.loads(path.read_text())
    record.setdefault("parts", [{"seconds": record.get("seconds", 0.0), "to_step": record.get("global_step"),
                                 "status": "finished"}])  # written before train_time.json had parts
    return record


def is_finished(folder: Path) -> bool:
    return bool(read_train_time(folder).get("finished"))


@dataclass
class RunFolder:
    path: Path                        # the run's folder
    resume_from: str | None = None    # the checkpoint training continues from
    note: str = ""                    # one line: which folder, and why
    finished: bool = False            # a finished run of this very config: nothing to train
    changed: list[str] = field(default_factory=list)  # non-identifying keys this launch changed


def choose_run(
    base: Path, cfg: dict[str, Any], auto_resume: dict[str, Any], explicit: str | None
) -> RunFolder:
    """The folder a launch of ``cfg`` writes to, under ``base`` = ``<checkpoint.dir>/<name>``; reads only.

    ``resume_from_checkpoint`` continues its own run when that run's identifying keys match, else starts a new
    run from it; with ``auto_resume.enabled`` the newest matching run whose last.ckpt is younger than
    ``auto_resume.max_hours`` is continued; everything else is a new run."""
    cfg = record(cfg)
    if explicit:
        if not Path(explicit).is_file():
            raise FileNotFoundError(f"resume_from_checkpoint={explicit!r} does not exist")
        problem = unreadable(explicit)
        if problem:
            refuse("resume_from_checkpoint", explicit, f"not a readable checkpoint: {problem}")
        path = Path(explicit).resolve()  # through <name>/latest: the run folder itself
        saved = read_config(path.parent)
        diff = differences(saved, cfg) if saved is not None else ["its folder has no config.json"]
        if not diff:
            return RunFolder(path.parent, str(path), f"resuming {path.parent} from {path.name}",
                             changed=leaf_differences(saved, cfg))
        new = base / new_run_id(base)
        return RunFolder(
            new, str(path), f"new run {new}, starting from {path} (not its run: {'; '.join(diff)})"
        )
    new = base / new_run_id(base)
    if not auto_resume.get("enabled"):
        return RunFolder(new, None, f"new run {new}")
    skipped = []
    for folder in reversed(runs_under(base)):
        saved = read_config(folder)
        diff = differences(saved, cfg)
        last = folder / "last.ckpt"
        if diff:
            skipped.append(f"{folder.name} has {', '.join(diff)}")
            continue
        if is_finished(folder):
            return RunFolder(folder, None, f"{folder} already finished this config: nothing to train (any "
                             "identifying key changed, or auto_resume.enabled=false, starts a new run)",
                             finished=True)
        if not last.is_file():
            skipped.append(f"{folder.name} has no last.ckpt")
            continue
        hours = (time.time() - last.stat().st_mtime) / 3600
        if hours > float(auto_resume.get("max_hours", 36)):
            skipped.append(f"{folder.name}'s last.ckpt is {hours:.1f} h old (auto_resume.max_hours="
                           f"{auto_resume.get('max_hours')})")
            continue
        return RunFolder(folder, str(last), f"auto_resume: continuing {folder} from last.ckpt",
                         changed=leaf_differences(saved, cfg))
    why = f" (auto_resume continues only the same config: {'; '.join(skipped[:3])})" if skipped else ""
    return RunFolder(new, None, f"new run {new}{why}")


def open_run(run: RunFolder, cfg: dict[str, Any]) -> None:
    """Create the folder and record the config (a resumed run keeps its first launch's config.json);
    ``latest`` follows once the run holds a checkpoint (``point_latest``). Rank 0 only: other DDP ranks write
    nothing (their checkpoint folder is rank 0's)."""
    if rank_zero_only.rank != 0:
        return
    run.path.mkdir(parents=True, exist_ok=True)
    if not (run.path / "config.json").is_file():
        (run.path / "config.json").write_text(json.dumps(record(cfg), indent=2))
    if is_run(run.path):  # a resumed run
        point_latest(run.path)


def point_latest(folder: Path) -> None:
    """``<name>/latest`` -> ``folder`` (rank 0; a no-op when it already points there)."""
    link = folder.parent / LATEST
    if rank_zero_only.rank != 0 or (link.is_symlink() and os.readlink(link) == folder.name):
        return
    tmp = folder.parent / f".{LATEST}.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(folder.name, target_is_directory=True)
        os.replace(tmp, link)
    except OSError as err:  # a filesystem without symlinks: the printed run folder is the way to it
        rank_zero_warn(f"could not point {link} at {folder.name}: {err}")


def discard_if_not_a_run(folder: Path, created: Path | None = None) -> bool:
    """Remove the folder of a launch that stopped before it became a run (no checkpoint, not finished): it
    holds only its config and the logs of steps no checkpoint kept; and ``created`` (the folders made for
    it, ``loggers.missing_root``) when nothing else is in them. Rank 0; True when it was removed."""
    if rank_zero_only.rank != 0 or not folder.is_dir() or is_run(folder):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    if created is not None and created.is_dir() and not any(p.is_file() for p in created.rglob("*")):
        shutil.rmtree(created, ignore_errors=True)
    return True


class AgreedRun(L.Callback):
    """Every DDP rank takes rank 0's run: each process chose a folder on its own before the ranks existed
    (another node's clock gives another id), so once they do, rank 0's choice is broadcast and a rank that
    would have resumed another checkpoint stops. ``run`` is updated in place."""

    def __init__(self, run: RunFolder):
        self.run = run

    def setup(self, trainer, pl_module, stage) -> None:
        path, resume_from = trainer.strategy.broadcast((str(self.run.path), self.run.resume_from), src=0)
        if resume_from != self.run.resume_from:
            raise ValueError(f"rank {trainer.global_rank} would resume from {self.run.resume_from} but rank "
                             f"0 from {resume_from}: the nodes do not see the same checkpoint.dir")
        self.run.path = Path(path)


def write_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)


class RunHistory(L.Callback):
    """One part of ``train_time.json`` per launch (seconds, steps, where it started, how it ended), updated at
    every checkpoint so a killed launch still counts up to its last checkpoint (``to_step``: the step a launch
    reached). On resume, the rows a stopped launch logged after the checkpoint it resumes from are dropped
    from metrics.csv: those steps are trained, and logged, again."""

    def __init__(self, run: RunFolder):
        self.run = run
        self.start = time.perf_counter()
        self.part = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "seconds": 0.0,
            "from_step": 0,
            "to_step": 0,
            "resumed_from": run.resume_from,
            "changed": run.changed,
            "status": "running",
        }
        self.earlier: list[dict] | None = None  # the parts of earlier launches, read at the first write

    @property
    def folder(self) -> Path:
        return self.run.path  # rank 0's, once AgreedRun has run

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self.part["from_step"] = self.part["to_step"] = int(checkpoint["global_step"])
        if trainer.is_global_zero:
            drop_rows_from(self.folder / "logs" / "metrics.csv", int(checkpoint["global_step"]))

    def on_train_start(self, trainer, pl_module) -> None:
        self.part["planned_steps"] = int(trainer.estimated_stepping_batches)  # what "unfinished" counts in

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        for logger in trainer.loggers:  # the metrics up to this checkpoint are on disk with it
            logger.save()
        self.write(trainer, int(checkpoint["global_step"]), "running")

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.write(trainer, trainer.global_step, f"stopped ({type(exception).__name__})")

    def write(self, trainer, step: int, status: str) -> None:
        if not trainer.is_global_zero:
            return
        self.part.update(seconds=time.perf_counter() - self.start, to_step=step, status=status)
        if self.earlier is None:  # an earlier launch still "running" was killed after its last checkpoint
            self.earlier = [{**p, "status": "killed"} if p.get("status") == "running" else p
                            for p in read_train_time(self.folder)["parts"]]
        parts = [*self.earlier, dict(self.part)]
        write_json(
            self.folder / TRAIN_TIME,
            {
                "seconds": sum(p["seconds"] or 0 for p in parts),
                "global_step": step,
                "finished": status == "finished",
                "parts": parts,
            },
        )


def drop_rows_from(path: Path, step: int) -> None:
    """Drop the rows logged at optimizer steps ``step`` and later (Lightning logs a batch's row with the
    number of steps taken before it, so a checkpoint at global_step S holds the training of the rows before
    S)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], list(reader)
    kept = [r for r in rows if not r.get("step") or int(r["step"]) < step]
    if len(kept) < len(rows):
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; a resumed run appends to it instead."""

    def __init__(self, log_dir: str):
        super().__init__(log_dir)
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = next(csv.reader(f), [])

    def _check_log_dir_exists(self) -> None:
        pass


class HistoryCSVLogger(CSVLogger):
    """CSVLogger writing ``logs/metrics.csv`` across the launches of one run."""

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
