"""Synthetic scenes on the CAVE 31-band grid and a tiny config, for training tests.

Run as a script (`python train_synthetic.py <run_dir> [--resume] [--set k=v ...]`) it trains through
`run_training` as the command does, with synthetic data instead of the shared datasets; the kill/resume
and DDP tests launch it in subprocesses (DDP via torchrun).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from spectra_distill.data import default_data_root
from spectra_distill.data.cube import Cube
from spectra_distill.train import (
    TrainConfig,
    TrainData,
    Trainer,
    config_from_dict,
    make_train_data,
    run_training,
)
from spectra_distill.train.config import apply_override, parse_override
from spectra_distill.train.trainer import init_distributed

DATA_ROOT = default_data_root()  # only its srf/ folder is read
WAVELENGTHS = np.arange(400.0, 701.0, 10.0)


def synthetic_cube(seed: int, size: int, dataset: str = "synthetic") -> Cube:
    """Smooth spectra (a few Gaussian bumps) times smooth spatial fields, values in 0..1."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    fields = [0.5 + 0.5 * np.sin(2 * np.pi * (a * yy + b * xx) + c) for a, b, c in rng.uniform(0, 3, (3, 3))]
    spectra = [
        np.exp(-0.5 * ((WAVELENGTHS - mu) / sd) ** 2)
        for mu, sd in zip(rng.uniform(420, 680, 3), rng.uniform(30, 90, 3), strict=True)
    ]
    data = sum(f[None] * s[:, None, None] for f, s in zip(fields, spectra, strict=True)) / 3.0
    band_mask = np.ones(WAVELENGTHS.size, dtype=bool)
    band_mask[-2:] = False  # a masked band pair, as resampling produces at a grid edge
    data[~band_mask] = 0.0
    return Cube(
        data.astype(np.float32),
        WAVELENGTHS,
        fwhm=np.full(WAVELENGTHS.size, 10.0),
        band_mask=band_mask,
        provenance={"dataset": dataset, "scene": f"s{seed}", "value_scale": 65535.0},
    )


def tiny_config(**sections: dict[str, object]) -> TrainConfig:
    raw: dict[str, object] = {
        "name": "tiny",
        "seed": 3,
        "data": {
            "datasets": ["synthetic"],
            "root": str(DATA_ROOT),
            "grid": "cave31",
            "msi": "rgb",
            "patch_size": 16,
            "batch_size": 2,
            "samples_per_epoch": 16,
        },
        "model": {"preset": "test_tiny"},
        "optim": {"total_steps": 12, "lr": 1e-3},
        "log": {"log_every": 2, "val_every": 5, "ckpt_every": 3, "tensorboard": False},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}  # type: ignore[dict-item]
    return config_from_dict(raw)


def synthetic_data(cfg: TrainConfig) -> TrainData:
    train = [synthetic_cube(1, 40), synthetic_cube(2, 32)]
    val = [synthetic_cube(7, 32, "synthetic"), synthetic_cube(8, 24, "synthetic_b")]
    return make_train_data(train, val, cfg.data, cfg.seed, "synthetic")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--dump-rank-weights", action="store_true", help="each rank saves its final weights")
    args = parser.parse_args()
    raw = tiny_config().to_dict()
    for text in args.overrides:
        apply_override(raw, *parse_override(text), text)
    cfg = config_from_dict(raw)
    if args.dump_rank_weights:
        # run_training's steps, kept open so every rank (not only rank 0) can report its weights
        info = init_distributed("cpu")
        args.run_dir.mkdir(parents=True, exist_ok=True)
        trainer = Trainer(cfg, synthetic_data(cfg), args.run_dir, info)
        trainer.fit()
        assert trainer.student is not None
        state = {
            "teacher": trainer.teacher.state_dict(),
            "student": trainer.student.state_dict(),
            "step": trainer.step,
        }
        torch.save(state, args.run_dir / f"rank{info.rank}_of_{info.world}.pt")
        dist.destroy_process_group()
        return
    result = run_training(cfg, args.run_dir, resume=args.resume, data_factory=synthetic_data)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"step": result.step, "best_psnr": result.best_psnr}))


if __name__ == "__main__":
    main()
