"""Full-reference quality of a fused HR-HSI against its ground truth: PSNR, SAM, ERGAS, RMSE, SSIM.

All functions take ``pred`` and ``gt`` of shape (B, H, W) in the same units, an optional ``valid`` pixel mask
(H, W) and ``band_mask`` (B,) (False = excluded), and compute in float64. ``distill/METRICS.md`` restates the
formulas; the TypeScript SDK reproduces them from ``test/fixtures/metric-vectors.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from spectra_distill.errors import BandCountError, NonFiniteError

PeakMode = Literal["band_max", "fixed"]

PSNR_CAP_DB = 100.0
"""A band whose error is exactly zero scores this instead of +inf, so means and JSON stay finite."""
NORM_EPS = 1e-10
"""SAM skips pixels whose prediction or ground-truth spectrum has a Euclidean norm at or below this."""
MEAN_EPS = 1e-12
"""ERGAS skips bands whose ground-truth mean magnitude is at or below this."""
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _prepare(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None, band_mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated float64 (B, H, W) arrays, a bool (H, W) pixel mask and the indices of the kept bands."""
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.ndim != 3 or g.ndim != 3:
        raise BandCountError(f"Metrics need (bands, H, W) arrays; got pred {p.shape} and gt {g.shape}")
    if p.shape != g.shape:
        raise BandCountError(f"Prediction has shape {p.shape} but ground truth {g.shape}")
    v = np.ones(g.shape[1:], dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if v.shape != g.shape[1:]:
        raise BandCountError(f"valid mask has shape {v.shape}; expected {g.shape[1:]}")
    m = np.ones(g.shape[0], dtype=bool) if band_mask is None else np.asarray(band_mask, dtype=bool)
    if m.shape != (g.shape[0],):
        raise BandCountError(f"band_mask has shape {m.shape}; expected ({g.shape[0]},)")
    bands = np.flatnonzero(m)
    if bands.size == 0 or not v.any():
        raise ValueError("Metrics need at least one valid band and one valid pixel")
    for name, arr in (("prediction", p), ("ground truth", g)):
        sel = arr[bands][:, v]
        if not np.all(np.isfinite(sel)):
            bad = int((~np.isfinite(sel)).sum())
            raise NonFiniteError(f"{name} holds {bad} NaN/Inf values in valid pixels")
    return p, g, v, bands


def _band_mse(p: np.ndarray, g: np.ndarray, v: np.ndarray, bands: np.ndarray) -> np.ndarray:
    return np.mean((p[bands][:, v] - g[bands][:, v]) ** 2, axis=1)


def _peaks(g: np.ndarray, v: np.ndarray, bands: np.ndarray, peak: PeakMode, data_range: float) -> np.ndarray:
    if peak == "band_max":
        return g[bands][:, v].max(axis=1)
    if peak == "fixed":
        return np.full(bands.size, float(data_range))
    raise ValueError(f"Unknown peak mode '{peak}'; known: band_max, fixed")


def psnr(
    pred: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray | None = None,
    band_mask: np.ndarray | None = None,
    peak: PeakMode = "band_max",
    data_range: float = 1.0,
) -> float:
    """Mean over bands of ``10 log10(peak_b^2 / MSE_b)`` in dB.

    ``peak="band_max"`` (default, the CSAKD authors' evaluation and common HSI-fusion practice): ``peak_b``
    is the maximum of ground-truth band b over valid pixels; bands with ``peak_b <= 0`` are left out.
    ``peak="fixed"``: ``peak_b = data_range`` for every band. ``MSE_b`` is the mean squared error of band b
    over valid pixels. Each band's value is capped at :data:`PSNR_CAP_DB` (identical inputs score 100 dB).
    """
    p, g, v, bands = _prepare(pred, gt, valid, band_mask)
    peaks = _peaks(g, v, bands, peak, data_range)
    mse = _band_mse(p, g, v, bands)
    keep = peaks > 0
    if not keep.any():
        raise ValueError("PSNR: every ground-truth band has a peak <= 0")
    with np.errstate(divide="ignore"):
        per_band = 10.0 * np.log10(peaks[keep] ** 2 / mse[keep])
    return float(np.mean(np.minimum(per_band, PSNR_CAP_DB)))


def sam(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, band_mask: np.ndarray | None = None
) -> float:
    """Mean spectral angle in degrees: ``arccos(<p, g> / (|p| |g|))`` per valid pixel over valid bands.

    The cosine is clipped to [-1, 1]; pixels where ``|p|`` or ``|g|`` is at or below :data:`NORM_EPS` are
    skipped. Returns NaN when no pixel is left.
    """
    p, g, v, bands = _prepare(pred, gt, valid, band_mask)
    ps = p[bands][:, v]
    gs = g[bands][:, v]
    pn = np.linalg.norm(ps, axis=0)
    gn = np.linalg.norm(gs, axis=0)
    ok = (pn > NORM_EPS) & (gn > NORM_EPS)
    if not ok.any():
        return float("nan")
    cos = np.sum(ps[:, ok] * gs[:, ok], axis=0) / (pn[ok] * gn[ok])
    return float(np.degrees(np.mean(np.arccos(np.clip(cos, -1.0, 1.0)))))


def ergas(
    pred: np.ndarray,
    gt: np.ndarray,
    scale: int,
    valid: np.ndarray | None = None,
    band_mask: np.ndarray | None = None,
) -> float:
    """``(100 / scale) * sqrt(mean_b(MSE_b / mu_b^2))``, ``mu_b`` = ground-truth band mean over valid pixels.

    Bands with ``|mu_b| <= MEAN_EPS`` are left out.
    """
    if scale <= 0:
        raise ValueError(f"ERGAS scale must be positive; got {scale}")
    p, g, v, bands = _prepare(pred, gt, valid, band_mask)
    mu = g[bands][:, v].mean(axis=1)
    mse = _band_mse(p, g, v, bands)
    keep = np.abs(mu) > MEAN_EPS
    if not keep.any():
        raise ValueError("ERGAS: every ground-truth band has a zero mean")
    return float(100.0 / scale * np.sqrt(np.mean(mse[keep] / mu[keep] ** 2)))


def rmse(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, band_mask: np.ndarray | None = None
) -> float:
    """``sqrt(mean((p - g)^2))`` over valid pixels and valid bands, in the units of the inputs."""
    p, g, v, bands = _prepare(pred, gt, valid, band_mask)
    return float(np.sqrt(np.mean((p[bands][:, v] - g[bands][:, v]) ** 2)))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """1-D Gaussian taps at integer offsets from the centre, sum 1 (the 2-D window is their outer product)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    w = np.exp(-(x**2) / (2.0 * sigma**2))
    return w / w.sum()


def _filter_valid(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of (H, W) with taps along both axes -> (H - n + 1, W - n + 1)."""
    n = taps.size
    rows = sum(taps[k] * x[k : x.shape[0] - n + 1 + k] for k in range(n))
    return sum(taps[k] * rows[:, k : rows.shape[1] - n + 1 + k] for k in range(n))


def ssim(
    pred: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray | None = None,
    band_mask: np.ndarray | None = None,
    peak: PeakMode = "band_max",
    data_range: float = 1.0,
) -> float:
    """Mean over bands of the mean SSIM map (Wang et al., IEEE TIP 2004).

    Gaussian window 11 x 11, sigma 1.5, normalised; ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``; local statistics
    are window-weighted (population) moments. The map covers only positions where the whole window lies inside
    the image ('valid' filtering, no padding) and inside valid pixels. ``L`` is the PSNR peak: the band's
    ground-truth maximum (``band_max``, bands with ``L <= 0`` left out) or ``data_range`` (``fixed``).
    """
    p, g, v, bands = _prepare(pred, gt, valid, band_mask)
    if min(g.shape[1:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW}; got {g.shape[1:]}")
    taps = gaussian_window()
    # a map position counts only if every pixel under its window is valid
    window_ok = _filter_valid((~v).astype(np.float64), np.ones(SSIM_WINDOW)) == 0
    if not window_ok.any():
        raise ValueError("SSIM: no 11 x 11 window lies entirely inside valid pixels")
    peaks = _peaks(g, v, bands, peak, data_range)
    scores = []
    for b, L in zip(bands, peaks, strict=True):
        if L <= 0:
            continue
        x, y = p[b], g[b]
        c1, c2 = (SSIM_K1 * L) ** 2, (SSIM_K2 * L) ** 2
        mx, my = _filter_valid(x, taps), _filter_valid(y, taps)
        sxx = _filter_valid(x * x, taps) - mx * mx
        syy = _filter_valid(y * y, taps) - my * my
        sxy = _filter_valid(x * y, taps) - mx * my
        smap = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        scores.append(float(smap[window_ok].mean()))
    if not scores:
        raise ValueError("SSIM: every ground-truth band has a peak <= 0")
    return float(np.mean(scores))


@dataclass(frozen=True)
class FusionMetrics:
    """The five full-reference scores of one fused cube."""

    psnr: float
    sam: float
    ergas: float
    rmse: float
    ssim: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def evaluate(
    pred: np.ndarray,
    gt: np.ndarray,
    scale: int,
    valid: np.ndarray | None = None,
    band_mask: np.ndarray | None = None,
    peak: PeakMode = "band_max",
    data_range: float = 1.0,
) -> FusionMetrics:
    """All five metrics with one set of masks (RMSE in the input units; SSIM shares the PSNR peak)."""
    return FusionMetrics(
        psnr=psnr(pred, gt, valid, band_mask, peak, data_range),
        sam=sam(pred, gt, valid, band_mask),
        ergas=ergas(pred, gt, scale, valid, band_mask),
        rmse=rmse(pred, gt, valid, band_mask),
        ssim=ssim(pred, gt, valid, band_mask, peak, data_range),
    )
