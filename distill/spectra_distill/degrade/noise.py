"""Additive white Gaussian noise at a target SNR, per sample, in physical units.

For one sample ``x`` (a whole cube, or one item of a batch): ``P = mean(x^2)`` over its valid pixels and
bands, ``sigma = sqrt(P / 10^(snr_db / 10))``, and ``x + N(0, sigma^2)`` everywhere. Computing the power per
sample in physical units (not per batch, not on [-1, 1] data) makes 35 dB mean the same thing for a dark and a
bright scene.
"""

from __future__ import annotations

import numpy as np

from spectra_distill.errors import NonFiniteError


def noise_sigma(
    x: np.ndarray, snr_db: float, valid: np.ndarray | None = None, band_mask: np.ndarray | None = None
) -> float:
    """Standard deviation giving ``snr_db`` for sample ``x`` of shape (B, H, W)."""
    sel = np.asarray(x, dtype=np.float64)
    if band_mask is not None:
        sel = sel[np.asarray(band_mask, dtype=bool)]
    if valid is not None:
        sel = sel[:, np.asarray(valid, dtype=bool)]
    if sel.size == 0:
        raise ValueError("No valid pixels to measure the signal power for the requested SNR")
    power = float(np.mean(sel**2))
    return float(np.sqrt(power / 10.0 ** (snr_db / 10.0)))


def add_awgn(
    x: np.ndarray,
    snr_db: float,
    rng: np.random.Generator,
    valid: np.ndarray | None = None,
    band_mask: np.ndarray | None = None,
) -> np.ndarray:
    """``x`` (B, H, W) plus white Gaussian noise at ``snr_db``, float32; masked bands stay untouched."""
    x = np.asarray(x)
    if not np.all(np.isfinite(x)):
        raise NonFiniteError("Input to add_awgn holds NaN/Inf values")
    sigma = noise_sigma(x, snr_db, valid, band_mask)
    noise = rng.standard_normal(x.shape) * sigma
    if band_mask is not None:
        noise[~np.asarray(band_mask, dtype=bool)] = 0.0
    return (x.astype(np.float64) + noise).astype(np.float32)


def measured_snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """10 log10(mean(clean^2) / mean((noisy - clean)^2)), for checks."""
    clean = np.asarray(clean, dtype=np.float64)
    err = np.asarray(noisy, dtype=np.float64) - clean
    return float(10.0 * np.log10(np.mean(clean**2) / np.mean(err**2)))
