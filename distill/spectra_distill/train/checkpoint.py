"""Checkpoint files: atomic writes, required keys, RNG state capture and restore.

Keys (agreed with export): `config`, `teacher`, `student` (state_dicts; a teacher-only run has no
`student`), `model_config` {'teacher': dict, 'student': dict}, `card`, `metrics`, `epoch`, `step`, `optim`,
`sched`, `rng`; the trainer adds `scaler` and `best`.

Files hold only tensors and plain containers (dict, list, tuple, str, int, float, bool, None; torch's own
`torch.Size`/`dtype`/`device`), so `torch.load(path, weights_only=True)` reads them, optimizer and RNG state
included: `save_checkpoint` converts dataclasses, NumPy values, paths and enums on the way out, and
`set_rng_state` turns the stored RNG state back into what `random`/`numpy` expect. Files written before that
(NumPy RNG state pickled as objects) still load, through full unpickling and with a logged warning.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import random
from collections import OrderedDict
from collections.abc import Mapping
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch

from spectra_distill.errors import CheckpointError

logger = logging.getLogger(__name__)

RESUME_KEYS = ("config", "model_config", "step", "epoch", "optim", "sched", "rng")
# torch objects the weights-only unpickler accepts as they are
_TORCH_PLAIN = (torch.Tensor, torch.Size, torch.dtype, torch.device)
_warned_legacy: set[str] = set()


def to_plain(value: Any, where: str = "checkpoint") -> Any:
    """``value`` with every non-plain object replaced by plain data that ``weights_only`` loading accepts.

    Dataclasses and named tuples become dicts, NumPy scalars Python numbers, NumPy arrays tensors (same
    dtype), paths strings, enums their value, sets sorted lists; dict subclasses become dicts, except the
    ``OrderedDict`` of a ``state_dict`` (kept, with its ``_metadata``). Tensors are stored as they are.

    Raises:
        TypeError: an object with no plain form, naming where in the checkpoint it sits.
    """
    if value is None or type(value) in (str, int, float, bool) or isinstance(value, _TORCH_PLAIN):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value, copy=True))
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Enum):
        return to_plain(value.value, where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_plain(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)
        }
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a named tuple
        return to_plain(dict(value._asdict()), where)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = OrderedDict() if isinstance(value, OrderedDict) else {}
        for key, item in value.items():
            plain_key = key if type(key) in (str, int) else str(to_plain(key, where))
            out[plain_key] = to_plain(item, f"{where}.{key}")
        if hasattr(value, "_metadata"):  # a module state_dict's per-module versions
            out._metadata = to_plain(value._metadata, f"{where}._metadata")  # type: ignore[attr-defined]
        return out
    if isinstance(value, list | tuple):
        items = [to_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, set | frozenset):
        return sorted(to_plain(item, where) for item in value)
    if isinstance(value, bool | int | float | str):  # subclasses of the plain scalars (str-based types)
        return _base_scalar(value)
    raise TypeError(f"{where}: cannot store a {type(value).__name__} in a weights-only checkpoint")


def _base_scalar(value: bool | int | float | str) -> bool | int | float | str:
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value)
    raise AssertionError(value)  # unreachable: the caller checked the types


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` as plain data (see :func:`to_plain`) via a temporary file and an atomic rename, so a
    kill mid-write never leaves a torn file.

    Raises:
        TypeError: ``state`` holds an object with no plain form (nothing is written).
    """
    plain = to_plain(state)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(plain, tmp)
    os.replace(tmp, path)


def _read(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``; a legacy (pre-plain) file falls back to full unpickling."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # the weights-only unpickler met an object: a checkpoint written before they were plain data
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        first = str(path.resolve()) not in _warned_legacy
        _warned_legacy.add(str(path.resolve()))
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:  # torch raises many types for a bad file; all mean "unreadable"
            raise CheckpointError(f"cannot read checkpoint: {exc2}", path) from exc2
        if first:
            logger.warning(
                "%s: legacy checkpoint that weights-only loading refuses (%s); loaded with full unpickling, "
                "which runs code from the file: only do this for files you trust. Saving it again "
                "(e.g. by resuming) writes the plain format.",
                path,
                reason,
            )
        return ckpt


def load_checkpoint(path: str | Path, required: tuple[str, ...] = RESUME_KEYS) -> dict[str, Any]:
    """Read a checkpoint dict on the CPU (weights-only; legacy files see :func:`_read`).

    Raises:
        CheckpointError: missing/unreadable file, not a dict, or a required key absent.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("checkpoint not found", path)
    try:
        ckpt = _read(path)
    except CheckpointError:
        raise
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
    """Every generator a step could draw from, as plain data (lists, ints, floats, tensors)."""
    version, internal, gauss_next = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss_next],
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "state": {
                # uint32 key words held as int64: exact, and a tensor dtype every torch version loads
                "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                "pos": int(np_state["state"]["pos"]),
            },
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state` output, or the tuple form legacy checkpoints stored."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    np_state = state["numpy"]
    if isinstance(np_state, Mapping):
        key = np_state["state"]["key"]
        key = key.numpy() if isinstance(key, torch.Tensor) else np.asarray(key)
        np_state = {**np_state, "state": {**np_state["state"], "key": key.astype(np.uint32)}}
    np.random.set_state(np_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
