"""Coupled non-negative matrix factorisation (CNMF; Yokoya, Yairi, Iwasaki, IEEE TGRS 2012).

Both images are unmixed alternately with shared endmembers: the LR-HSI gives the endmember spectra ``W``,
the HR-MSI gives high-resolution abundances ``H`` through the SRF (``R W``), and the fused cube is ``W H``.
Unlike the pansharpening baselines it needs no band-to-MSI assignment: bands outside the MSI range are
reconstructed from the endmember spectra learnt on the LR-HSI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spectra_distill.baselines.common import lowres_msi, zero_masked_bands
from spectra_distill.degrade.pipeline import FusionPair
from spectra_distill.degrade.psf import spatial_degrade

TINY = 1e-12


@dataclass(frozen=True)
class CNMFConfig:
    """Sizes of the factorisation.

    Attributes:
        endmembers: Number of endmembers K (capped by the band and pixel counts).
        outer: Alternations between the HSI and the MSI unmixing.
        inner: Multiplicative-update iterations per unmixing.
        sum_to_one: Weight of the abundance sum-to-one row appended to both data matrices.
    """

    endmembers: int = 20
    outer: int = 3
    inner: int = 60
    sum_to_one: float = 0.1


def _spa(x: np.ndarray, k: int) -> np.ndarray:
    """Successive projection: indices of k columns of x (bands x pixels) spanning its cone."""
    r = x / np.maximum(x.sum(axis=0, keepdims=True), TINY)
    picked: list[int] = []
    for _ in range(k):
        j = int(np.argmax((r * r).sum(axis=0)))
        picked.append(j)
        u = r[:, j : j + 1] / max(float(np.linalg.norm(r[:, j])), TINY)
        r = r - u @ (u.T @ r)
    return np.array(picked)


def _augment(m: np.ndarray, delta: float) -> np.ndarray:
    return np.vstack([m, np.full((1, m.shape[1]), delta)])


def _update_h(x: np.ndarray, w: np.ndarray, h: np.ndarray, iters: int) -> np.ndarray:
    for _ in range(iters):
        # the floor keeps entries out of the denormal range, where float arithmetic is ~100x slower
        h = np.maximum(h * (w.T @ x) / np.maximum(w.T @ w @ h, TINY), TINY)
    return h


def _update_both(x: np.ndarray, w: np.ndarray, h: np.ndarray, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Alternate multiplicative updates; w's last row (the sum-to-one row) stays fixed."""
    for _ in range(iters):
        upd = (x @ h.T) / np.maximum(w @ (h @ h.T), TINY)
        w = np.vstack([np.maximum(w[:-1] * upd[:-1], TINY), w[-1:]])
        h = _update_h(x, w, h, 1)
    return w, h


def cnmf(pair: FusionPair, cfg: CNMFConfig = CNMFConfig()) -> np.ndarray:
    """Fuse ``pair`` by coupled NMF; (B, H, W) float32. Without an SRF (real pairs) ``R`` is fitted at LR."""
    lr = np.clip(pair.lrhsi.data.astype(np.float64), 0, None)
    msi = np.clip(pair.hrmsi.data.astype(np.float64), 0, None)
    bands, h, w = lr.shape
    b, hh, ww = msi.shape
    s, psf = pair.scale, pair.psf
    if pair.srf is not None:
        r = pair.srf.matrix
    else:
        r = np.linalg.lstsq(lr.reshape(bands, -1).T, lowres_msi(pair).reshape(b, -1).T, rcond=None)[0].T
        r = np.clip(r, 0, None)
    xh = lr.reshape(bands, -1)
    xm = msi.reshape(b, -1)
    k = max(2, min(cfg.endmembers, bands, xh.shape[1]))
    delta = cfg.sum_to_one * float(xh.mean())

    wh = xh[:, _spa(xh, k)] + TINY
    hh_ = np.full((k, xh.shape[1]), 1.0 / k)
    xh_a = _augment(xh, delta)
    wh_a = _augment(wh, delta)
    hh_ = _update_h(xh_a, wh_a, hh_, cfg.inner)
    wh_a, hh_ = _update_both(xh_a, wh_a, hh_, cfg.inner)

    # initial HR abundances: nearest-neighbour upsampling of the LR ones
    hm = np.repeat(np.repeat(hh_.reshape(k, h, w), s, axis=1), s, axis=2).reshape(k, -1) + TINY
    xm_a = _augment(xm, delta)
    for _ in range(cfg.outer):
        wm_a = _augment(r @ wh_a[:-1], delta)
        hm = _update_h(xm_a, wm_a, hm, cfg.inner)
        wm_a, hm = _update_both(xm_a, wm_a, hm, cfg.inner)
        hh_ = spatial_degrade(hm.reshape(k, hh, ww), s, psf).reshape(k, -1).astype(np.float64) + TINY
        wh_a, hh_ = _update_both(xh_a, wh_a, hh_, cfg.inner)
    fused = (wh_a[:-1] @ hm).reshape(bands, hh, ww)
    return zero_masked_bands(pair, fused).astype(np.float32)
