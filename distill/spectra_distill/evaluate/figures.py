"""Quicklook PNGs (RGB composites and per-pixel SAM maps side by side) and spectra at a few pixels.

Drawn with matplotlib's object API on the Agg canvas (no pyplot state). The per-pixel SAM map is a picture
only; every reported SAM number comes from :func:`spectra_distill.metrics.sam`, and the map's mean over
scored pixels equals it (tested).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from spectra_distill.metrics.quality import NORM_EPS

RGB_NM = (640.0, 550.0, 460.0)
STRETCH_PERCENTILES = (2.0, 98.0)


def sam_map(pred: np.ndarray, gt: np.ndarray, band_mask: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """(H, W) spectral angle in degrees over the scored bands; NaN at invalid or zero-norm pixels."""
    p = pred[band_mask].astype(np.float64)
    g = gt[band_mask].astype(np.float64)
    pn, gn = np.linalg.norm(p, axis=0), np.linalg.norm(g, axis=0)
    ok = (pn > NORM_EPS) & (gn > NORM_EPS)
    if valid is not None:
        ok &= valid
    cos = np.sum(p * g, axis=0) / np.where(ok, pn * gn, 1.0)
    return np.where(ok, np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))), np.nan)


def rgb_bands(wavelengths: np.ndarray, band_mask: np.ndarray) -> list[int]:
    """Scored bands nearest 640/550/460 nm (or, outside the visible, three spread over the scored bands)."""
    idx = np.flatnonzero(band_mask)
    wl = wavelengths[idx]
    if wl.min() <= RGB_NM[2] + 50 and wl.max() >= RGB_NM[0] - 50:
        return [int(idx[np.argmin(np.abs(wl - nm))]) for nm in RGB_NM]
    return [int(idx[int(q * (idx.size - 1))]) for q in (0.75, 0.5, 0.25)]


def _stretch(gt: np.ndarray, bands: list[int], valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    sel = gt[bands][:, valid] if valid is not None else gt[bands].reshape(len(bands), -1)
    lo, hi = np.percentile(sel, STRETCH_PERCENTILES, axis=1)
    return lo, np.maximum(hi, lo + 1e-6)


def composite(cube: np.ndarray, bands: list[int], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(H, W, 3) in [0, 1] with one stretch shared by every panel, so brightness differences are real."""
    rgb = (cube[bands] - lo[:, None, None]) / (hi - lo)[:, None, None]
    return np.clip(rgb, 0.0, 1.0).transpose(1, 2, 0)


def quicklook(
    path: Path,
    title: str,
    gt: np.ndarray,
    preds: Mapping[str, np.ndarray],
    wavelengths: np.ndarray,
    band_mask: np.ndarray,
    valid: np.ndarray | None,
) -> Path:
    """Top row: RGB of the ground truth and of each prediction; bottom row: each prediction's SAM map."""
    bands = rgb_bands(wavelengths, band_mask)
    lo, hi = _stretch(gt, bands, valid)
    maps = {name: sam_map(p, gt, band_mask, valid) for name, p in preds.items()}
    finite = np.concatenate([m[np.isfinite(m)] for m in maps.values()] or [np.zeros(1)])
    vmax = float(np.percentile(finite, 99)) if finite.size else 1.0
    cols = 1 + len(preds)
    panel_h = float(np.clip(2.6 * gt.shape[1] / gt.shape[2], 0.8, 5.0))  # follow the region's aspect
    fig = Figure(figsize=(2.6 * cols, 2 * panel_h + 1.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, cols, squeeze=False)
    axes[0, 0].imshow(composite(gt, bands, lo, hi))
    axes[0, 0].set_title("ground truth", fontsize=9)
    axes[1, 0].axis("off")
    axes[1, 0].text(
        0.0, 0.5, f"RGB = bands at\n{', '.join(f'{wavelengths[b]:.0f}' for b in bands)} nm\n"
        f"SAM colour scale 0-{vmax:.1f} deg", fontsize=8, va="center",
    )  # fmt: skip
    image = None
    for c, (name, pred) in enumerate(preds.items(), start=1):
        axes[0, c].imshow(composite(pred, bands, lo, hi))
        axes[0, c].set_title(name, fontsize=9)
        image = axes[1, c].imshow(maps[name], cmap="magma", vmin=0.0, vmax=max(vmax, 1e-3))
        axes[1, c].set_title(f"SAM {np.nanmean(maps[name]):.2f} deg", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if image is not None:
        fig.colorbar(image, ax=axes[1, 1:].tolist(), shrink=0.8, label="SAM (deg)")
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path


def spectra_pixels(
    gt: np.ndarray, band_mask: np.ndarray, valid: np.ndarray | None, count: int = 3
) -> list[tuple[int, int]]:
    """Pixels at evenly spaced quantiles of ground-truth brightness (dark to bright), deterministic."""
    bright = gt[band_mask].mean(axis=0)
    ok = np.ones(bright.shape, bool) if valid is None else valid
    flat = np.flatnonzero(ok.ravel())
    order = flat[np.argsort(bright.ravel()[flat], kind="stable")]
    picks = [order[int(q * (order.size - 1))] for q in np.linspace(0.1, 0.9, count)]
    return [(int(i) // gt.shape[2], int(i) % gt.shape[2]) for i in picks]


def spectra_plot(
    path: Path,
    title: str,
    gt: np.ndarray,
    preds: Mapping[str, np.ndarray],
    wavelengths: np.ndarray,
    band_mask: np.ndarray,
    valid: np.ndarray | None,
) -> Path:
    """Ground truth and each prediction at a few pixels; unscored bands are gaps in the lines."""
    pixels = spectra_pixels(gt, band_mask, valid)
    fig = Figure(figsize=(4.2 * len(pixels), 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(pixels), squeeze=False)[0]
    gap = np.where(band_mask, 1.0, np.nan)
    for ax, (y, x) in zip(axes, pixels, strict=True):
        ax.plot(wavelengths, gt[:, y, x] * gap, color="black", lw=2.0, label="ground truth")
        for name, pred in preds.items():
            ax.plot(wavelengths, pred[:, y, x] * gap, lw=1.1, label=name)
        ax.set_title(f"pixel (row {y}, col {x})", fontsize=9)
        ax.set_xlabel("wavelength (nm)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("value (0..1 physical units)")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path
