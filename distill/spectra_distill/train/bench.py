"""Training-step throughput of an experiment on this machine (prints JSON and appends it to a file).

Usage: python -m spectra_distill.train.bench --config <exp>.yaml [--set k=v ...] [--steps 5] [--device cuda]
    [--out runs/train_speed.jsonl]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from spectra_distill.log import output
from spectra_distill.train.config import load_config
from spectra_distill.train.data import build_data
from spectra_distill.train.trainer import Trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(config: Path, overrides: list[str], steps: int, warmup: int = 1) -> dict[str, Any]:
    """Time `steps` training steps (after `warmup`) and one validation pass; data loading excluded."""
    cfg = load_config(config, overrides)
    data = build_data(cfg.data, cfg.seed)
    trainer = Trainer(cfg, data, Path("unused"))
    loader = DataLoader(data.train_set, batch_size=cfg.data.batch_size)
    batches = [b for _, b in zip(range(steps + warmup), loader, strict=False)]
    for batch in batches[:warmup]:
        trainer.train_step(batch)
    _sync(trainer.device)
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(trainer.device)
    start = time.perf_counter()
    for batch in batches[warmup:]:
        trainer.train_step(batch)
    _sync(trainer.device)
    step_s = (time.perf_counter() - start) / max(1, len(batches) - warmup)
    start = time.perf_counter()
    trainer.validate()
    _sync(trainer.device)
    return {
        "experiment": cfg.name,
        "overrides": overrides,
        "mode": cfg.kd.mode,
        "preset": cfg.model.preset,
        "hsi_bands": data.hsi_bands,
        "patch_size": cfg.data.patch_size,
        "batch_size": cfg.data.batch_size,
        "device": torch.cuda.get_device_name(trainer.device)
        if trainer.device.type == "cuda"
        else platform.processor() or "cpu",
        "amp": cfg.amp if trainer.device.type == "cuda" else "none",
        "threads": torch.get_num_threads(),
        "seconds_per_step": round(step_s, 4),
        "steps_per_second": round(1.0 / step_s, 3),
        "validation_seconds": round(time.perf_counter() - start, 3),
        "val_regions": len(data.val),
        "peak_cuda_mib": round(torch.cuda.max_memory_allocated(trainer.device) / 2**20)
        if trainer.device.type == "cuda"
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=Path("runs/train_speed.jsonl"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = [*args.overrides, *([f"device={args.device}"] if args.device else [])]
    result = measure(args.config, overrides, args.steps)
    output(json.dumps(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as f:
        f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
