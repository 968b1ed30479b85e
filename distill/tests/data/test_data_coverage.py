import numpy as np
import pytest

from spectra_distill.commands.coverage_vectors import hyperion_like
from spectra_distill.data.coverage import to_model_grid
from spectra_distill.data.cube import Cube
from spectra_distill.data.resample import GRIDS, resample_cube
from spectra_distill.errors import WavelengthError


def _cube(wl, mask=None, seed=0):
    rng = np.random.default_rng(seed)
    return Cube(
        rng.uniform(0.1, 0.9, (len(wl), 4, 5)).astype(np.float32), np.asarray(wl, float), band_mask=mask
    )


def test_hyperion_like_grid_fills_what_it_covers_and_zeroes_the_rest():
    wl, fwhm = hyperion_like()
    cube = Cube(np.full((wl.size, 2, 2), 0.3, np.float32), wl, fwhm=fwhm)
    grid = GRIDS["vnir_swir_10nm"]
    learnt = np.ones(grid.wavelengths.size, bool)
    learnt[[99, 100]] = False  # 1390 and 1400 nm, as the shipped 206-band card
    out = to_model_grid(cube, grid.wavelengths, grid.fwhm, learnt)
    assert out.resampled
    gaps = grid.wavelengths[~out.covered]
    # below Hyperion's first band, in its removed water-vapour ranges, and past its last band
    assert gaps.min() == 400 and 2400 < gaps.max() <= 2450
    assert np.any((gaps > 1350) & (gaps < 1450)) and np.any((gaps > 1800) & (gaps < 1950))
    assert np.array_equal(out.band_valid, out.covered & learnt)
    assert np.all(out.data[~out.band_valid] == 0), (
        "uncovered and unlearnt bands are fed as zeros, as in training"
    )
    np.testing.assert_allclose(out.data[out.band_valid], 0.3, rtol=1e-6)


def test_covered_bands_equal_resample_cube():
    cube = _cube(np.arange(400.0, 601.0, 10.0))
    grid = GRIDS["cave31"]
    out = to_model_grid(cube, grid.wavelengths, grid.fwhm)
    ref = resample_cube(cube, grid.wavelengths, grid.fwhm)
    assert np.array_equal(out.covered, ref.band_mask)
    np.testing.assert_allclose(out.data, ref.data, atol=1e-6)
    # 400..600 nm: the 600 nm window 595-605 lies inside the coverage 392.5-607.5 nm; 610 nm does not
    assert out.band_valid.sum() == 21 and out.band_valid[20] and not out.band_valid[21]


def test_complete_cube_on_the_grid_passes_through_and_a_masked_band_is_resampled_away():
    grid = GRIDS["cave31"]
    cube = _cube(grid.wavelengths)
    out = to_model_grid(cube, grid.wavelengths, grid.fwhm)
    assert not out.resampled and out.data is cube.data and out.band_valid.all()
    mask = np.ones(31, bool)
    mask[14] = False
    gap = to_model_grid(_cube(grid.wavelengths, mask), grid.wavelengths, grid.fwhm)
    assert gap.resampled and not gap.band_valid[14] and gap.band_valid.sum() == 30
    assert np.all(gap.data[14] == 0)


def test_no_overlap_is_refused():
    grid = GRIDS["cave31"]
    with pytest.raises(WavelengthError, match="covers none of the model's bands"):
        to_model_grid(_cube(np.arange(1000.0, 1200.0, 10.0)), grid.wavelengths, grid.fwhm)
