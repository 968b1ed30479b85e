"""Overlapping-tile inference: the fallback when a whole region does not fit in memory.

Whole-region inference is the rule (the channel attention of the fusion sees every pixel, so tiles change the
result slightly); tiles are used only after an out-of-memory failure, and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

FuseFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(lrhsi (1, B, h, w), hrmsi (1, b, s*h, s*w)) float32 -> (1, B, s*h, s*w) float32."""

OOM_MARKERS = ("out of memory", "can't allocate memory", "failed to allocate memory", "bad allocation")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's CUDA OOM, the CPU allocator's failure and onnxruntime's allocation failures."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return any(m in text for m in OOM_MARKERS)


def _starts(size: int, tile: int, step: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, step))
    return [*starts, size - tile]


def fuse_tiled(
    fn: FuseFn, lrhsi: np.ndarray, hrmsi: np.ndarray, scale: int, tile: int, overlap: int
) -> np.ndarray:
    """Fuse in LR tiles of ``tile`` x ``tile`` overlapping by ``overlap`` LR pixels; overlaps are averaged.

    Args:
        fn: Whole-input fusion.
        lrhsi: (1, B, h, w).
        hrmsi: (1, b, s*h, s*w).
        scale: s.
        tile: LR tile side.
        overlap: LR pixels shared by neighbouring tiles (< tile).

    Returns:
        (1, B, s*h, s*w) float32.
    """
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile); got overlap {overlap}, tile {tile}")
    _, bands, h, w = lrhsi.shape
    out = np.zeros((1, bands, h * scale, w * scale), np.float64)
    weight = np.zeros((h * scale, w * scale), np.float64)
    for top in _starts(h, tile, tile - overlap):
        for left in _starts(w, tile, tile - overlap):
            th, tw = min(tile, h), min(tile, w)
            lr = lrhsi[:, :, top : top + th, left : left + tw]
            hr_sl = (slice(top * scale, (top + th) * scale), slice(left * scale, (left + tw) * scale))
            part = fn(lr, hrmsi[:, :, hr_sl[0], hr_sl[1]])
            out[:, :, hr_sl[0], hr_sl[1]] += part
            weight[hr_sl] += 1.0
    return (out / weight).astype(np.float32)


def fuse_whole_or_tiled(
    fn: FuseFn, lrhsi: np.ndarray, hrmsi: np.ndarray, scale: int, tile: int = 64, overlap: int = 8
) -> tuple[np.ndarray, bool]:
    """Whole-input fusion; on an out-of-memory failure, overlapping tiles (halving until they fit).

    Returns:
        (prediction (1, B, H, W), whether tiles were used).
    """
    try:
        return fn(lrhsi, hrmsi), False
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        last: BaseException = exc
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    while tile >= 4:
        try:
            return fuse_tiled(fn, lrhsi, hrmsi, scale, tile, min(overlap, tile // 2)), True
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc):
                raise
            last = exc
            tile //= 2
    raise last
