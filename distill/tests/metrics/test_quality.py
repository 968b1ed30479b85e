from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from spectra_distill.errors import BandCountError, NonFiniteError
from spectra_distill.metrics import ergas, evaluate, psnr, rmse, sam, ssim
from spectra_distill.metrics.quality import gaussian_window
from spectra_distill.metrics.vectors import build_vectors

VECTORS = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "metric-vectors.json"


def _pair(seed: int = 0, shape: tuple[int, int, int] = (4, 16, 16)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = rng.random(shape) * 0.8 + 0.1
    return gt + rng.normal(0, 0.02, shape), gt


def _same(a: object, b: object, where: str = "") -> None:
    """Equal structure and inputs; floats equal to a few ulps (numpy's SIMD summation order varies by CPU)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-13, abs_tol=1e-13), (where, a, b)
    else:
        assert a == b, where


def test_committed_vectors_recompute_exactly() -> None:
    doc = json.loads(VECTORS.read_text())
    _same(doc, json.loads(json.dumps(build_vectors())))
    for case in doc["cases"]:
        pred, gt = np.array(case["pred"]), np.array(case["gt"])
        assert list(gt.shape) == case["shape"]
        got = evaluate(
            pred, gt, case["scale"], case["valid"], case["band_mask"], case["peak"], case["data_range"]
        ).as_dict()
        for key, value in case["expected"].items():
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), (case["name"], key)
        # the inputs survive a float32 round trip unchanged (the SDK stores Float32Array)
        np.testing.assert_array_equal(gt.astype(np.float32).astype(np.float64), gt)


def test_psnr_known_value_peak_modes_and_cap() -> None:
    gt = np.zeros((2, 12, 12))
    gt[0, 0, 0], gt[1, 0, 0] = 0.5, 0.25
    pred = gt + 0.01
    assert psnr(pred, gt) == pytest.approx(
        np.mean([20 * math.log10(0.5 / 0.01), 20 * math.log10(0.25 / 0.01)])
    )
    assert psnr(pred, gt, peak="fixed", data_range=1.0) == pytest.approx(40.0)
    assert psnr(gt, gt) == 100.0
    with pytest.raises(ValueError, match="Unknown peak mode 'max'"):
        psnr(pred, gt, peak="max")  # type: ignore[arg-type]


def test_sam_angle_and_scale_invariance() -> None:
    gt = np.zeros((2, 12, 12))
    gt[0] = 1.0
    pred = np.ones((2, 12, 12))
    assert sam(pred, gt) == pytest.approx(45.0)
    p, g = _pair(1)
    assert sam(3.7 * p, g) == pytest.approx(sam(p, g), rel=1e-9)
    assert sam(g, g) < 1e-5


def test_sam_skips_zero_spectra() -> None:
    p, g = _pair(2)
    g0 = g.copy()
    g0[:, 0, 0] = 0.0
    keep = np.ones(g.shape[1:], dtype=bool)
    keep[0, 0] = False
    assert sam(p, g0) == pytest.approx(sam(p, g, valid=keep), rel=1e-12)
    assert math.isnan(sam(np.zeros_like(g), g))


def test_ergas_scale_relation_and_unit_invariance() -> None:
    p, g = _pair(3)
    assert ergas(p, g, 8) == pytest.approx(ergas(p, g, 4) / 2)
    assert ergas(10 * p, 10 * g, 4) == pytest.approx(ergas(p, g, 4))
    mse_b = ((p - g) ** 2).mean(axis=(1, 2))
    mu_b = g.mean(axis=(1, 2))
    assert ergas(p, g, 4) == pytest.approx(25 * np.sqrt(np.mean(mse_b / mu_b**2)))


def test_rmse_in_input_units() -> None:
    g = np.ones((3, 12, 12))
    assert rmse(g + 0.5, g) == pytest.approx(0.5)
    assert rmse(1e4 * (g + 0.5), 1e4 * g) == pytest.approx(5000.0)


def _ssim_brute(x: np.ndarray, y: np.ndarray, L: float) -> float:
    w = np.outer(gaussian_window(), gaussian_window())
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    vals = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a, b = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
            cov = (w * (a - ma) * (b - mb)).sum()
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matches_direct_window_formula() -> None:
    p, g = _pair(4, (2, 14, 15))
    expected = np.mean([_ssim_brute(p[b], g[b], g[b].max()) for b in range(2)])
    assert ssim(p, g) == pytest.approx(expected, rel=1e-10)
    assert ssim(g, g) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 11 x 11"):
        ssim(p[:, :10], g[:, :10])


def test_masks_exclude_pixels_and_bands() -> None:
    p, g = _pair(5, (3, 16, 16))
    p2 = p.copy()
    p2[1] = np.nan  # excluded band may hold anything
    mask = np.array([True, False, True])
    assert psnr(p2, g, band_mask=mask) == pytest.approx(psnr(p[[0, 2]], g[[0, 2]]))
    valid = np.ones((16, 16), dtype=bool)
    valid[:, 12:] = False
    p3 = p.copy()
    p3[:, :, 12:] = 99.0
    assert rmse(p3, g, valid=valid) == pytest.approx(rmse(p[:, :, :12], g[:, :, :12]))
    assert ssim(p3, g, valid=valid) == pytest.approx(ssim(p[:, :, :12], g[:, :, :12]))


def test_bad_inputs_raise_typed_errors() -> None:
    p, g = _pair(6)
    bad = p.copy()
    bad[0, 1, 1] = np.inf
    with pytest.raises(NonFiniteError, match="prediction holds 1 NaN/Inf"):
        evaluate(bad, g, 4)
    with pytest.raises(BandCountError, match="shape"):
        psnr(p[:3], g)
    with pytest.raises(BandCountError, match="band_mask"):
        rmse(p, g, band_mask=np.ones(3, dtype=bool))
