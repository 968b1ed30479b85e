"""Nodata handling for consumers: how much of a cube is valid, and where fully valid patches start."""

from __future__ import annotations

import numpy as np

from spectra_distill.data.cube import Cube


def valid_fraction(cube: Cube) -> float:
    """Fraction of pixels marked valid (1.0 when the cube has no mask)."""
    return 1.0 if cube.valid is None else float(cube.valid.mean()) if cube.valid.size else 0.0


def valid_patch_origins(cube: Cube, size: int, stride: int = 1, align: int = 1) -> np.ndarray:
    """Top-left corners of every ``size`` x ``size`` patch whose pixels are all valid.

    Training samplers draw from these so no patch ever holds nodata; metrics use ``cube.valid`` directly.

    Args:
        cube: The cube (or a split region of it).
        size: Patch side in pixels.
        stride: Step between candidate origins.
        align: Origins are multiples of this (e.g. the fusion scale, so LR patches line up).

    Returns:
        int64 array (N, 2) of (row, col), row-major order; empty (0, 2) when nothing fits.

    Raises:
        ValueError: size, stride or align below 1.
    """
    if size < 1 or stride < 1 or align < 1:
        raise ValueError(f"size, stride and align must be >= 1; got {size}, {stride}, {align}")
    h, w = cube.height, cube.width
    if size > h or size > w:
        return np.zeros((0, 2), dtype=np.int64)
    step = int(np.lcm(stride, align))
    rows = np.arange(0, h - size + 1, step)
    cols = np.arange(0, w - size + 1, step)
    if cube.valid is None:
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        return np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.int64)
    # Summed-area table of invalid pixels: a patch is clean when its invalid count is zero.
    bad = np.pad((~cube.valid).astype(np.int64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    r, c = rows[:, None], cols[None, :]
    count = bad[r + size, c + size] - bad[r, c + size] - bad[r + size, c] + bad[r, c]
    ok = np.argwhere(count == 0)
    return np.stack([rows[ok[:, 0]], cols[ok[:, 1]]], axis=1).astype(np.int64)
