"""Run-directory logs: `train_log.csv`, `val_log.csv` and TensorBoard events, written by rank 0 only.

On resume, rows logged after the checkpoint's step (by the killed process) are dropped, so every step appears
once and the logs match an uninterrupted run.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter

VAL_FIELDS = ("step", "role", "dataset", "psnr", "sam", "ergas")


def _truncate_after(path: Path, step: int) -> None:
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0], *(r for r in rows[1:] if r and int(r[0]) <= step)]
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(kept)


class RunLog:
    """CSV + TensorBoard logging for one run.

    Args:
        run_dir: The run directory.
        loss_names: `l_`-prefixed loss columns, fixed for the run.
        resume_step: Step the run resumes from (0 for a fresh run).
        tensorboard: Also write TensorBoard events under `run_dir/tb`.
    """

    def __init__(self, run_dir: Path, loss_names: Sequence[str], resume_step: int, tensorboard: bool) -> None:
        self.train_csv = run_dir / "train_log.csv"
        self.val_csv = run_dir / "val_log.csv"
        self.train_fields = ("step", "epoch", "seconds", "lr_t", "lr_s", *loss_names)
        for path, fields in ((self.train_csv, self.train_fields), (self.val_csv, VAL_FIELDS)):
            if resume_step and path.is_file():
                _truncate_after(path, resume_step)
            else:
                with path.open("w", newline="") as f:
                    csv.writer(f).writerow(fields)
        self.writer = (
            SummaryWriter(str(run_dir / "tb"), purge_step=resume_step if resume_step else None)
            if tensorboard
            else None
        )

    def train(self, step: int, values: Mapping[str, Any]) -> None:
        with self.train_csv.open("a", newline="") as f:
            csv.writer(f).writerow([values.get(k, "") if k != "step" else step for k in self.train_fields])
        if self.writer is not None:
            for key, value in values.items():
                if key.startswith(("l_", "lr_")) and value != "":
                    self.writer.add_scalar(f"train/{key}", float(value), step)

    def val(self, step: int, metrics: Mapping[str, Mapping[str, Mapping[str, float]]]) -> None:
        """`metrics[role][dataset] = {psnr, sam, ergas}`."""
        with self.val_csv.open("a", newline="") as f:
            out = csv.writer(f)
            for role, per_dataset in metrics.items():
                for dataset, m in per_dataset.items():
                    out.writerow([step, role, dataset, *(f"{m[k]:.6g}" for k in VAL_FIELDS[3:])])
                    if self.writer is not None:
                        for key in VAL_FIELDS[3:]:
                            self.writer.add_scalar(f"val_{role}/{dataset}/{key}", m[key], step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
