"""Checkpoint files: atomic writes, required keys, RNG state capture and restore.

Keys (agreed with export): `config`, `teacher`, `student` (state_dicts; a teacher-only run has no
`student`), `model_config` {'teacher': dict, 'student': dict}, `card`, `metrics`, `epoch`, `step`, `optim`,
`sched`, `rng`; the trainer adds `scaler` and `best`.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spectra_distill.errors import CheckpointError

RESUME_KEYS = ("config", "model_config", "step", "epoch", "optim", "sched", "rng")


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write via a temporary file and an atomic rename, so a kill mid-write never leaves a torn file."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, required: tuple[str, ...] = RESUME_KEYS) -> dict[str, Any]:
    """Read a checkpoint dict on the CPU.

    Raises:
        CheckpointError: missing/unreadable file, not a dict, or a required key absent.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("checkpoint not found", path)
    try:
        # our own files: they hold numpy RNG states and plain dicts, not only tensors
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a bad file; all mean "unreadable"
        raise CheckpointError(f"cannot read checkpoint: {exc}", path) from exc
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"expected a dict checkpoint; got {type(ckpt).__name__}", path)
    missing = [k for k in required if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint lacks {', '.join(missing)}; has {', '.join(map(str, ckpt))}", path)
    return ckpt


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every generator a step could draw from."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
