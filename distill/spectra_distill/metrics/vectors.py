"""Small metric test cases with expected values, written to JSON for the TypeScript SDK to check against.

Inputs are multiples of 2^-12 so they are exact in float32 as well as float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spectra_distill.metrics import quality
from spectra_distill.metrics.quality import PeakMode, evaluate

SCHEMA = "spectra-edge/metric-vectors@1"
QUANTUM = 2.0**-12


def _q(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=np.float64) / QUANTUM) * QUANTUM


def _case(
    name: str,
    description: str,
    pred: np.ndarray,
    gt: np.ndarray,
    scale: int,
    valid: np.ndarray | None = None,
    band_mask: np.ndarray | None = None,
    peak: PeakMode = "band_max",
    data_range: float = 1.0,
) -> dict[str, Any]:
    pred, gt = _q(pred), _q(gt)
    expected = evaluate(pred, gt, scale, valid, band_mask, peak, data_range).as_dict()
    return {
        "name": name,
        "description": description,
        "shape": list(gt.shape),
        "scale": scale,
        "peak": peak,
        "data_range": data_range,
        "pred": pred.tolist(),
        "gt": gt.tolist(),
        "valid": None if valid is None else np.asarray(valid, dtype=bool).tolist(),
        "band_mask": None if band_mask is None else np.asarray(band_mask, dtype=bool).tolist(),
        "expected": expected,
    }


def build_vectors(seed: int = 20261127) -> dict[str, Any]:
    """The test-vector document: constants, tolerance and six cases (layout (bands, H, W), row-major)."""
    rng = np.random.default_rng(seed)
    gt = rng.random((4, 12, 12)) * 0.8 + 0.05
    noisy = np.clip(gt + rng.normal(0, 0.02, gt.shape), 0, None)

    masked_gt = rng.random((3, 16, 16)) * 0.6 + 0.1
    masked_pred = masked_gt + rng.normal(0, 0.03, masked_gt.shape)
    valid = np.ones((16, 16), dtype=bool)
    valid[13:, 12:] = False  # a nodata corner: excluded from every metric and from SSIM windows touching it
    masked_pred[:, ~valid] = 5.0

    bm_gt = rng.random((5, 12, 14)) * 0.5 + 0.2
    bm_pred = bm_gt * (1 + rng.normal(0, 0.05, bm_gt.shape))
    band_mask = np.array([True, True, False, True, True])
    bm_gt[2] = 0.0
    bm_pred[2] = 0.9  # garbage in an excluded band must not count

    dark_gt = rng.random((3, 12, 12)) * 0.4 + 0.1
    dark_gt[:, 0, :4] = 0.0  # black ground-truth pixels: skipped by SAM
    dark_pred = dark_gt + rng.normal(0, 0.01, dark_gt.shape)

    cases = [
        _case("noisy_band_max", "Gaussian error, per-band peak", noisy, gt, 4),
        _case("noisy_fixed_peak", "Same data, fixed peak 1.0", noisy, gt, 4, peak="fixed"),
        _case("valid_mask", "Nodata corner excluded", masked_pred, masked_gt, 4, valid=valid),
        _case("band_mask", "Band 2 excluded", bm_pred, bm_gt, 4, band_mask=band_mask),
        _case("identical", "PSNR capped at 100 dB, SAM 0, SSIM 1", gt, gt, 4),
        _case(
            "scaled_dark_scale8", "pred = 1.5 x gt with black pixels, scale 8", dark_pred * 1.5, dark_gt, 8
        ),
    ]
    return {
        "schema": SCHEMA,
        "generated_by": "spectra-distill metric-vectors --out test/fixtures/metric-vectors.json",
        "formulas": "distill/METRICS.md",
        "layout": "pred/gt are [band][row][col]; valid is [row][col]; band_mask is [band]; null = all valid",
        "tolerance": {
            "abs": 1e-9,
            "rel": 1e-9,
            "sam_abs_deg": 1e-6,
            "note": "float64 computation; inputs are exact in float32. arccos is ill-conditioned near 0 "
            "degrees, so identical spectra give ~1e-7 degrees depending on summation order: compare SAM "
            "with sam_abs_deg",
        },
        "constants": {
            "psnr_cap_db": quality.PSNR_CAP_DB,
            "sam_norm_eps": quality.NORM_EPS,
            "ergas_mean_eps": quality.MEAN_EPS,
            "ssim_window": quality.SSIM_WINDOW,
            "ssim_sigma": quality.SSIM_SIGMA,
            "ssim_k1": quality.SSIM_K1,
            "ssim_k2": quality.SSIM_K2,
        },
        "cases": cases,
    }
