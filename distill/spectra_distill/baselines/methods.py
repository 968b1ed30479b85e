"""Classical HSI-MSI fusion baselines: bicubic, GSA, MTF-GLP-HPM, SFIM (and CNMF from its own module).

Each takes a :class:`~spectra_distill.degrade.pipeline.FusionPair` and returns the fused HR-HSI as a
(B, H, W) float32 array. Band-to-MSI assignment: :mod:`spectra_distill.baselines.common`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import uniform_filter

from spectra_distill.baselines.cnmf import cnmf
from spectra_distill.baselines.common import assign_bands, bicubic_upsample, lowres_msi, zero_masked_bands
from spectra_distill.degrade.pipeline import FusionPair
from spectra_distill.degrade.psf import spatial_degrade

EPS = 1e-6
HPM_OFFSET = 0.01
RIDGE = 1e-3
"""GSA regression ridge, relative to the Gram matrix's mean diagonal (a group can hold 100+ bands)."""


def bicubic(pair: FusionPair) -> np.ndarray:
    """Bicubic upsampling of the LR-HSI; ignores the HR-MSI (the lower bound)."""
    up = bicubic_upsample(pair.lrhsi.data, pair.scale)
    return zero_masked_bands(pair, up).astype(np.float32)


def gsa(pair: FusionPair) -> np.ndarray:
    """Adaptive Gram-Schmidt component substitution (Aiazzi, Baronti, Selva, IEEE TGRS 2007), per MSI group.

    For MSI band ``j`` and its group ``G`` of HSI bands: the intensity ``I = w0 + sum_i w_i up(X_i)`` with
    weights from a (ridge) least-squares fit of the LR version of the MSI band on the LR-HSI bands of ``G``;
    the MSI band is matched to ``I`` in mean and standard deviation (``P'``), and each band of the group gets
    ``up(X_i) + g_i (P' - I)`` with ``g_i = cov(up(X_i), I) / var(I)``.
    """
    up = bicubic_upsample(pair.lrhsi.data, pair.scale)
    lr = pair.lrhsi.data.astype(np.float64)
    lr_msi = lowres_msi(pair)
    msi = pair.hrmsi.data.astype(np.float64)
    assign = assign_bands(pair, lr_msi)
    out = up.copy()
    for j in range(msi.shape[0]):
        group = np.flatnonzero(assign == j)
        if group.size == 0:
            continue
        a = np.column_stack([np.ones(lr[0].size), lr[group].reshape(group.size, -1).T])
        gram = a.T @ a
        gram[1:, 1:] += RIDGE * np.trace(gram[1:, 1:]) / group.size * np.eye(group.size)
        w = np.linalg.solve(gram, a.T @ lr_msi[j].ravel())
        intensity = w[0] + np.tensordot(w[1:], up[group], axes=1)
        p = msi[j]
        p_eq = (p - p.mean()) * intensity.std() / max(p.std(), EPS) + intensity.mean()
        var_i = max(float(intensity.var()), EPS**2)
        ic = intensity - intensity.mean()
        for i in group:
            gain = float(np.mean((up[i] - up[i].mean()) * ic)) / var_i
            out[i] = up[i] + gain * (p_eq - intensity)
    return zero_masked_bands(pair, out).astype(np.float32)


def _hpm(pair: FusionPair, lowpass: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """High-pass modulation: ``up(X_i) * (P_j + d) / (lowpass(P_j) + d)``, ``P_j`` the MSI band assigned to i.

    A gain equalisation of ``P_j`` would cancel in the ratio; the usual offset equalisation is left out
    because on dark scenes it pushes the low-pass through zero and the ratio explodes. The low-pass is
    clipped at 0 (bicubic overshoot) and ``d = 0.01 * mean(P_j)`` keeps near-black pixels from amplifying
    noise.
    """
    up = bicubic_upsample(pair.lrhsi.data, pair.scale)
    msi = pair.hrmsi.data.astype(np.float64)
    assign = assign_bands(pair, lowres_msi(pair))
    ratio = []
    for m in msi:
        d = max(HPM_OFFSET * float(m.mean()), EPS)
        ratio.append((m + d) / (np.maximum(lowpass(m), 0.0) + d))
    out = up * np.stack(ratio)[assign]
    return zero_masked_bands(pair, out).astype(np.float32)


def mtf_glp_hpm(pair: FusionPair) -> np.ndarray:
    """MTF-GLP with high-pass modulation (Aiazzi et al., 2003/2006; Vivone et al. review, IEEE TGRS 2015).

    The MSI low-pass is the generalised Laplacian pyramid step with an MTF-matched filter: blur with the
    pair's Gaussian PSF (gain ~0.29 at the LR Nyquist frequency), decimate by s, bicubic back to HR.
    """
    return _hpm(
        pair, lambda m: bicubic_upsample(spatial_degrade(m[None], pair.scale, pair.psf), pair.scale)[0]
    )


def sfim(pair: FusionPair) -> np.ndarray:
    """Smoothing-filter-based intensity modulation (Liu, IJRS 2000): ``up(X_i) * P / mean_filter(P)``.

    The smoothing filter is a box of side ``s + 1`` (``s`` when odd; odd so it stays centred), reflect edges.
    """
    size = pair.scale + 1 - pair.scale % 2
    return _hpm(pair, lambda m: uniform_filter(m, size=size, mode="reflect"))


BASELINES: dict[str, Callable[[FusionPair], np.ndarray]] = {
    "bicubic": bicubic,
    "gsa": gsa,
    "mtf_glp_hpm": mtf_glp_hpm,
    "sfim": sfim,
    "cnmf": cnmf,
}


def run_baseline(name: str, pair: FusionPair) -> np.ndarray:
    """Fuse ``pair`` with the named baseline; (B, H, W) float32."""
    if name not in BASELINES:
        raise ValueError(f"Unknown baseline '{name}'; known: {', '.join(BASELINES)}")
    return BASELINES[name](pair)
