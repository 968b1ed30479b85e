from __future__ import annotations

import numpy as np
import pytest

from spectra_distill.data import GRIDS, Cube, resample_cube, resampling_matrix
from spectra_distill.data.resample import FWHM_PER_SIGMA, source_coverage
from spectra_distill.data.spectra import SpectralResponse
from spectra_distill.errors import BandCountError


def flat_cube(wl: np.ndarray, fwhm: np.ndarray | None = None, band_mask: np.ndarray | None = None) -> Cube:
    data = np.ones((wl.size, 3, 4), dtype=np.float32)
    if band_mask is not None:
        data[~band_mask] = 0.0
    return Cube(data, wl, fwhm=fwhm, band_mask=band_mask)


@pytest.mark.parametrize("method", ["gaussian", "linear"])
def test_flat_spectrum_stays_flat_and_gaps_masked(method: str) -> None:
    src = np.arange(380.0, 2500.0, 9.5)
    mask = ~((src > 1340) & (src < 1450)) & ~((src > 1800) & (src < 1960))
    grid = GRIDS["vnir_swir_10nm"]
    out = resample_cube(flat_cube(src, band_mask=mask), grid.wavelengths, grid.fwhm, method=method)
    assert out.data.shape == (206, 3, 4)
    np.testing.assert_allclose(out.data[out.band_mask], 1.0, rtol=1e-6)
    assert np.all(out.data[~out.band_mask] == 0.0)
    masked = grid.wavelengths[~out.band_mask]
    assert {1350.0, 1400.0, 1440.0, 1850.0, 1900.0, 1950.0} <= set(masked)
    assert {400.0, 1300.0, 1500.0, 1750.0, 2000.0, 2450.0}.isdisjoint(masked)


def test_target_outside_source_is_masked_not_invented() -> None:
    src = np.arange(400.0, 891.0, 3.0)  # VNIR only
    grid = GRIDS["vnir_swir_10nm"]
    out = resample_cube(flat_cube(src), grid.wavelengths, grid.fwhm)
    inside = (grid.wavelengths >= 410) & (grid.wavelengths <= 880)
    assert out.band_mask[inside].all()
    # 400 nm: half its 395-405 nm extent lies below the first source centre (400) plus slack (2.25 nm).
    assert not out.band_mask[~inside].any()


def test_identity_grid_and_exact_formula() -> None:
    grid = GRIDS["cave31"]
    M, mask = resampling_matrix(grid.wavelengths, None, None, grid.wavelengths, grid.fwhm)
    assert mask.all()
    np.testing.assert_allclose(M.sum(axis=1), 1.0)
    sigma = 10.0 / FWHM_PER_SIGMA
    w = np.exp(-0.5 * ((grid.wavelengths - 550.0) / sigma) ** 2)
    np.testing.assert_allclose(M[15], w / w.sum(), rtol=1e-12)
    assert abs(FWHM_PER_SIGMA - 2.3548200450309493) < 1e-15
    M, mask = resampling_matrix(grid.wavelengths, None, None, grid.wavelengths, grid.fwhm, method="linear")
    np.testing.assert_array_equal(M, np.eye(31))


def test_linear_interpolates_between_neighbours() -> None:
    M, mask = resampling_matrix(
        np.array([500.0, 510.0, 520.0]), None, None, np.array([505.0, 512.5]), np.array([2.0, 2.0]), "linear"
    )
    assert mask.all()
    np.testing.assert_allclose(M, [[0.5, 0.5, 0.0], [0.0, 0.75, 0.25]])


def test_overlapping_unsorted_source_and_nan_in_bad_band() -> None:
    # Spectrometer overlap: centres go back down; a bad band holds NaN.
    src = np.array([500.0, 510.0, 520.0, 530.0, 515.0, 525.0, 535.0, 545.0])
    mask = np.array([True, True, True, True, True, True, False, True])
    cube = flat_cube(src, band_mask=mask)
    data = cube.data.copy()
    data[6] = np.nan
    out = resample_cube(cube.with_data(data), np.array([510.0, 520.0, 530.0]), np.array([10.0, 10.0, 10.0]))
    assert np.isfinite(out.data).all()
    np.testing.assert_allclose(out.data[out.band_mask], 1.0, rtol=1e-6)


def test_coverage_intervals_split_at_removed_bands() -> None:
    src = np.array([400.0, 410.0, 420.0, 470.0, 480.0])
    cover = source_coverage(src, None, None)
    assert cover == [(392.5, 427.5), (462.5, 487.5)]


def test_srf_method_with_camera_response() -> None:
    wl = np.arange(400.0, 701.0, 10.0)
    resp = np.stack([np.exp(-0.5 * ((wl - c) / 20) ** 2) for c in (460.0, 530.0, 600.0, 690.0)], axis=1)
    srf = SpectralResponse(wl, ("B", "G", "R", "X"), resp, path=None)  # type: ignore[arg-type]
    src_wl = np.arange(400.0, 661.0, 10.0)  # stops before the X band's support ends
    out = resample_cube(flat_cube(src_wl), method="srf", srf=srf)
    np.testing.assert_array_equal(out.band_mask, [True, True, True, False])
    np.testing.assert_allclose(out.data[:3], 1.0, rtol=1e-6)
    np.testing.assert_allclose(out.wavelengths[:3], [460.0, 530.0, 600.0], atol=1.0)


def test_bad_arguments() -> None:
    with pytest.raises(BandCountError, match="src_mask"):
        resampling_matrix(np.arange(3.0), None, np.ones(2, bool), np.arange(3.0), None)
    with pytest.raises(ValueError, match="Unknown method 'cubic'"):
        resample_cube(flat_cube(np.arange(400.0, 500.0, 10.0)), np.arange(400.0, 500.0, 10.0), method="cubic")
    with pytest.raises(ValueError, match="needs srf"):
        resample_cube(flat_cube(np.arange(400.0, 500.0, 10.0)), method="srf")


def test_matches_sdk_parity_vectors() -> None:
    """The SDK's committed vectors were made from this function; a change here must regenerate them."""
    import json
    from pathlib import Path

    path = (
        Path(__file__).resolve().parents[3] / "test" / "fixtures" / "sdk-parity" / "resampling-vectors.json"
    )
    if not path.is_file():
        pytest.skip(f"SDK parity vectors not found at {path}")
    for case in json.loads(path.read_text())["cases"]:

        def arr(key: str, c: dict = case) -> np.ndarray | None:
            return None if c[key] is None else np.asarray(c[key])

        M, mask = resampling_matrix(
            arr("src_wl"), arr("src_fwhm"), arr("src_mask"), arr("dst_wl"), arr("dst_fwhm"), case["method"]
        )
        np.testing.assert_array_equal(mask, case["dst_mask"], err_msg=case["name"])
        np.testing.assert_allclose(M @ arr("spectrum"), case["dst_spectrum"], rtol=0, atol=1e-12)
