"""Pieces shared by the classical baselines: interpolation, low-pass versions of the MSI, band assignment.

Band-to-MSI assignment (these are pansharpening methods with one "PAN" per HSI band): HSI band ``i`` is
sharpened with the MSI band whose spectral response weighs it most (``argmax_j M[j, i]`` of the SRF matrix).
HSI bands outside every MSI band's response (``M[:, i] == 0``, e.g. SWIR bands with an RGB or VNIR MSI), and
every band when the SRF is unknown (real pairs), take the MSI band whose low-resolution version correlates
best (Pearson) with that LR-HSI band. So SWIR bands borrow the spatial detail of the most similar VNIR band;
nothing is invented spectrally, but detail can be wrong where the two disagree.
"""

from __future__ import annotations

import numpy as np

from spectra_distill.degrade.pipeline import FusionPair
from spectra_distill.degrade.psf import spatial_degrade

CUBIC_A = -0.5


def _keys(t: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (reproduces quadratics; MATLAB ``imresize``'s choice)."""
    t = np.abs(t)
    a = CUBIC_A
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((t - 5) * t + 8) * t * a - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def upsample_matrix(n: int, scale: int) -> np.ndarray:
    """(n*scale, n) bicubic interpolation matrix, half-pixel centres, mirrored edges (edge pixel repeated)."""
    out = np.arange(n * scale)
    u = (out + 0.5) / scale - 0.5
    base = np.floor(u).astype(np.int64)
    mat = np.zeros((n * scale, n))
    for k in range(-1, 3):
        idx = base + k
        w = _keys(u - idx)
        idx = np.where(idx < 0, -idx - 1, idx)
        idx = np.where(idx >= n, 2 * n - idx - 1, idx)
        np.add.at(mat, (out, np.clip(idx, 0, n - 1)), w)
    return mat


def bicubic_upsample(lr: np.ndarray, scale: int) -> np.ndarray:
    """(B, h, w) -> (B, h*s, w*s) float64 by separable bicubic interpolation (Keys, a = -0.5).

    Output pixel ``o`` samples the input at ``(o + 0.5) / s - 0.5``: the half-pixel convention of the
    degradation, whose LR pixels sit at the centres of HR blocks.
    """
    lr = np.asarray(lr, dtype=np.float64)
    rows = upsample_matrix(lr.shape[-2], scale)
    cols = upsample_matrix(lr.shape[-1], scale)
    return np.einsum("Hh,bhw,Ww->bHW", rows, lr, cols, optimize=True)


def lowres_msi(pair: FusionPair) -> np.ndarray:
    """The HR-MSI degraded with the pair's PSF to the LR-HSI grid, (b, h, w) float64."""
    return spatial_degrade(pair.hrmsi.data, pair.scale, pair.psf).astype(np.float64)


def assign_bands(pair: FusionPair, lr_msi: np.ndarray) -> np.ndarray:
    """(B,) index of the MSI band used to sharpen each HSI band (rule in the module docstring)."""
    lr = pair.lrhsi.data.astype(np.float64)
    b, bands = lr_msi.shape[0], lr.shape[0]
    x = lr.reshape(bands, -1)
    y = lr_msi.reshape(b, -1)
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    denom = np.linalg.norm(xc, axis=1)[:, None] * np.linalg.norm(yc, axis=1)[None, :]
    corr = np.divide(xc @ yc.T, denom, out=np.zeros((bands, b)), where=denom > 0)
    by_corr = np.argmax(corr, axis=1)
    if pair.srf is None:
        return by_corr
    weights = pair.srf.matrix  # (b, B)
    inside = weights.max(axis=0) > 0
    return np.where(inside, np.argmax(weights, axis=0), by_corr)


def zero_masked_bands(pair: FusionPair, fused: np.ndarray) -> np.ndarray:
    """Masked (absent) bands stay zero in the output, as in the input."""
    if pair.lrhsi.band_mask is not None:
        fused[~pair.lrhsi.band_mask] = 0.0
    return fused
