"""A small real data root (CAVE crops in the shared layout) and a tiny randomly initialised checkpoint.

The checkpoint is built the way training writes one: the card comes from the training data pipeline
(`build_data`), the networks from the models factory at the `test_tiny` preset.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from spectra_distill.models.factory import create_model
from spectra_distill.train.checkpoint import save_checkpoint
from spectra_distill.train.config import DataConfig, TrainConfig
from spectra_distill.train.data import build_data, degradation_of

CROPS = {
    # scene file glob prefix -> crop side (HR pixels)
    "cave_cloth": 96,
    "cave_chart_and_stuffed_toy_crop": 80,
    "cave_balloons_crop": 64,
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny tensors: thread synchronisation on a shared 2-core runner costs more than it saves."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def small_root(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cave_kbr` cropped to small squares (same file names and descriptor) plus the SRF tables."""
    root = tmp_path_factory.mktemp("data")
    src, dst = data_root / "cave_kbr", root / "cave_kbr"
    dst.mkdir()
    shutil.copy(src / "cave_bands.csv", dst / "cave_bands.csv")
    for prefix, side in CROPS.items():
        (path,) = sorted(src.glob(f"{prefix}_*x*x31_uint16.npy"))
        cube = np.load(path)[:side, :side]
        np.save(dst / f"{prefix}_{side}x{side}x31_uint16.npy", np.ascontiguousarray(cube))
    (root / "srf").symlink_to(data_root / "srf", target_is_directory=True)
    return root


def _tiny_run(small_root: Path, factory: pytest.TempPathFactory, name: str, seed: int, **options) -> Path:
    """`<run>/best.pt` with keys as training writes them; random test_tiny teacher and student."""
    data = DataConfig(datasets=["cave_kbr"], root=str(small_root), grid="cave31", msi="rgb", scale=4,
                      patch_size=16, val_crop=32, samples_per_epoch=4)  # fmt: skip
    cfg = TrainConfig(name=name, data=data)
    train_data = build_data(data, seed=0)
    torch.manual_seed(seed)
    nets = {
        r: create_model(r, "test_tiny", train_data.hsi_bands, train_data.msi_bands, 4, **options)
        for r in ("teacher", "student")
    }
    if options.get("input_norm"):
        for net in nets.values():
            net.set_degradation(*degradation_of(train_data.card))
    run = factory.mktemp("runs") / name
    run.mkdir()
    save_checkpoint(
        {
            "config": cfg.to_dict(),
            "teacher": nets["teacher"].state_dict(),
            "student": nets["student"].state_dict(),
            "model_config": {r: n.config.to_dict() for r, n in nets.items()},
            "card": train_data.card,
            "metrics": {},
            "epoch": 0,
            "step": 0,
        },
        run / "best.pt",
    )
    return run / "best.pt"


@pytest.fixture(scope="session")
def tiny_checkpoint(small_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run without in-graph physics."""
    return _tiny_run(small_root, tmp_path_factory, "tiny_eval", 0)


@pytest.fixture(scope="session")
def tiny_physics_checkpoint(small_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run with the in-graph physics (radiometry, HPM prior, back-projections)."""
    physics = {"lr_skip": True, "input_norm": True, "prior": "hpm", "consistency_steps": 2, "gate": "softmax"}
    return _tiny_run(small_root, tmp_path_factory, "tiny_physics", 1, **physics)
