"""Tile fallback after out-of-memory, and the quicklook SAM map against the reported SAM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spectra_distill.evaluate.figures import rgb_bands, sam_map, spectra_pixels
from spectra_distill.evaluate.tiling import fuse_tiled, fuse_whole_or_tiled, is_out_of_memory
from spectra_distill.metrics import sam


def _local(lr: np.ndarray, msi: np.ndarray) -> np.ndarray:
    """A per-pixel fusion (nearest upsampling times MSI brightness): tiling must not change it."""
    up = lr.repeat(4, axis=2).repeat(4, axis=3)
    return (up * msi.mean(axis=1, keepdims=True)).astype(np.float32)


def test_falls_back_to_overlapping_tiles_only_after_oom() -> None:
    rng = np.random.default_rng(0)
    lr = rng.random((1, 5, 20, 13), dtype=np.float32)
    msi = rng.random((1, 3, 80, 52), dtype=np.float32)
    refused: list[tuple[int, int]] = []
    fused: list[tuple[int, int]] = []

    def limited(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.shape[2] * a.shape[3] > 100:
            refused.append(a.shape[2:])
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        fused.append(a.shape[2:])
        return _local(a, b)

    out, tiled = fuse_whole_or_tiled(limited, lr, msi, 4, tile=16, overlap=4)
    # whole region, then 16-px tiles are refused; 8-px tiles (overlap 4) cover it
    assert tiled and refused == [(20, 13), (16, 13)] and set(fused) == {(8, 8)}
    np.testing.assert_allclose(out, _local(lr, msi), rtol=1e-6)
    out, tiled = fuse_whole_or_tiled(_local, lr, msi, 4)
    assert not tiled


def test_other_errors_propagate_and_oom_text_is_recognised() -> None:
    def broken(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise RuntimeError("Given groups=1, weight of size [8, 31, 3, 3], expected input to have 31 channels")

    with pytest.raises(RuntimeError, match="expected input"):
        fuse_whole_or_tiled(
            broken, np.zeros((1, 2, 4, 4), np.float32), np.zeros((1, 1, 16, 16), np.float32), 4
        )
    assert is_out_of_memory(
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
    )
    assert not is_out_of_memory(ValueError("bad shape"))
    with pytest.raises(ValueError, match="overlap must be in"):
        fuse_tiled(_local, np.zeros((1, 1, 8, 8), np.float32), np.zeros((1, 1, 32, 32), np.float32), 4, 4, 4)


def test_sam_map_mean_is_the_reported_sam() -> None:
    rng = np.random.default_rng(1)
    gt = rng.random((12, 16, 16)) + 0.1
    pred = gt + 0.05 * rng.standard_normal(gt.shape)
    bands = np.ones(12, bool)
    bands[[3, 7]] = False
    valid = np.ones((16, 16), bool)
    valid[:4, :5] = False
    m = sam_map(pred, gt, bands, valid)
    assert np.isnan(m[~valid]).all()
    assert np.nanmean(m) == pytest.approx(sam(pred, gt, valid, bands), rel=1e-12)


def test_rgb_bands_and_spectra_pixels_respect_masks() -> None:
    wl = np.arange(400, 701, 10.0)
    mask = np.ones(31, bool)
    mask[24] = False  # 640 nm missing: the nearest scored band stands in
    assert [wl[b] for b in rgb_bands(wl, mask)] in ([630.0, 550.0, 460.0], [650.0, 550.0, 460.0])
    swir = np.arange(1500, 2401, 100.0)
    assert len(set(rgb_bands(swir, np.ones(10, bool)))) == 3
    gt = np.arange(2 * 6 * 6, dtype=float).reshape(2, 6, 6)
    valid = np.zeros((6, 6), bool)
    valid[2:, 3:] = True
    pixels = spectra_pixels(gt, np.ones(2, bool), valid)
    assert len(pixels) == 3 and all(valid[y, x] for y, x in pixels)
    assert gt[0][pixels[0]] < gt[0][pixels[-1]]
