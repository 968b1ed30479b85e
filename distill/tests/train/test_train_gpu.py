"""CUDA co-training with autocast (bf16, and fp16 with gradient scaling); skipped without a GPU."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from train_synthetic import synthetic_data, tiny_config

from spectra_distill.train import load_checkpoint, run_training

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize(("amp", "channels_last"), [("bf16", True), ("fp16", False), ("none", False)])
def test_cotrains_on_cuda_with_autocast(tmp_path: Path, amp: str, channels_last: bool) -> None:
    cfg = tiny_config(optim={"total_steps": 4}, log={"val_every": 2, "ckpt_every": 2})
    cfg.device, cfg.amp, cfg.channels_last = "cuda", amp, channels_last
    result = run_training(cfg, tmp_path, data_factory=synthetic_data)
    assert result.step == 4 and math.isfinite(result.best_psnr)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    for role in ("teacher", "student"):
        assert all(torch.isfinite(t).all() for t in ckpt[role].values())
    # fp16 keeps a live gradient scaler; bf16 and fp32 need none
    assert (
        ckpt["scaler"]["student"].get("scale") is not None if amp == "fp16" else not ckpt["scaler"]["student"]
    )
    cfg.optim.total_steps = 6
    assert run_training(cfg, tmp_path, resume=True, data_factory=synthetic_data).step == 6
