"""One training run end to end: process group, data, run directory, trainer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch.distributed as dist

from spectra_distill.errors import ConfigError
from spectra_distill.train.config import TrainConfig, save_config
from spectra_distill.train.data import TrainData, build_data
from spectra_distill.train.trainer import Trainer, TrainResult, init_distributed


def run_training(
    cfg: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    max_minutes: float | None = None,
    data_factory: Callable[[TrainConfig], TrainData] | None = None,
    command: str | None = None,
) -> TrainResult:
    """Train `cfg` into `run_dir` (under `torchrun`, every process calls this; rank 0 writes).

    Args:
        cfg: Resolved experiment.
        run_dir: Run directory; created if needed.
        resume: Continue from `run_dir/last.pt`.
        max_minutes: Stop cleanly (checkpoint written) after this much wall time.
        data_factory: Builds the data from the config; default loads the configured datasets.
        command: This invocation's command line, recorded in the checkpoints (see `Trainer`).

    Raises:
        ConfigError: the run directory already holds a run and `resume` is off.
    """
    run_dir = Path(run_dir)
    if not resume and (run_dir / "last.pt").exists():
        raise ConfigError(
            "run directory already holds a run (last.pt); pass --resume or choose another --run-dir", run_dir
        )
    info = init_distributed(cfg.device)
    try:
        data = (data_factory or (lambda c: build_data(c.data, c.seed)))(cfg)
        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, run_dir / "config.yaml")
        if info.world > 1:
            dist.barrier()  # the run dir exists before any rank touches it
        return Trainer(cfg, data, run_dir, info, command).fit(resume=resume, max_minutes=max_minutes)
    finally:
        if info.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
