from __future__ import annotations

import numpy as np
import pytest

from spectra_distill.degrade.psf import GaussianPSF, default_psf, make_psf, spatial_degrade
from spectra_distill.errors import NonFiniteError, ScaleError


@pytest.mark.parametrize("scale,size,sigma", [(4, 8, 2.0), (8, 16, 4.0)])
def test_default_psf_is_2s_taps_sigma_half_s(scale: int, size: int, sigma: float) -> None:
    psf = default_psf(scale)
    assert (psf.kernel_size, psf.sigma) == (size, sigma)
    taps = psf.taps()
    assert taps.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(taps, taps[::-1])
    assert psf.kernel2d().sum() == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [4, 8])
def test_blur_preserves_constant_and_mean(scale: int) -> None:
    const = np.full((2, 32, 48), 0.37, dtype=np.float32)
    np.testing.assert_allclose(spatial_degrade(const, scale), 0.37, atol=1e-6)
    rng = np.random.default_rng(1)
    hr = rng.random((3, 64, 64)).astype(np.float32)
    lr = spatial_degrade(hr, scale)
    assert lr.shape == (3, 64 // scale, 64 // scale)
    assert lr.mean() == pytest.approx(hr.mean(), abs=0.01)


@pytest.mark.parametrize("scale", [4, 8])
def test_lr_pixel_is_centred_on_its_hr_block(scale: int) -> None:
    # a linear ramp is reproduced by any symmetric kernel at its centre: LR(j) = j*s + (s-1)/2 away from edges
    hr = np.tile(np.arange(64, dtype=np.float64), (1, 64, 1))
    lr = spatial_degrade(hr, scale)
    j = np.arange(64 // scale)
    inner = slice(2, -2)
    np.testing.assert_allclose(lr[0, 3, inner], (j * scale + (scale - 1) / 2)[inner], atol=1e-4)


def test_sizes_not_divisible_raise_scale_error_naming_sizes() -> None:
    with pytest.raises(ScaleError, match=r"30 x 32.*multiples of the scale 4"):
        spatial_degrade(np.zeros((2, 30, 32)), 4)


def test_non_finite_input_raises() -> None:
    hr = np.zeros((1, 16, 16))
    hr[0, 3, 3] = np.nan
    with pytest.raises(NonFiniteError):
        spatial_degrade(hr, 4)


def test_kernel_parity_and_bad_values_rejected() -> None:
    with pytest.raises(ValueError, match="parity"):
        make_psf(4, kernel_size=9)
    with pytest.raises(ValueError, match="sigma"):
        GaussianPSF(kernel_size=8, sigma=0.0)
    with pytest.raises(ValueError, match="Unknown scale"):
        default_psf(3)


def test_small_kernel_uses_inner_pixels_only() -> None:
    # kernel_size 2 < scale 4: no padding, each LR pixel averages the two middle HR pixels of its block
    hr = np.tile(np.arange(16, dtype=np.float64), (1, 16, 1))
    lr = spatial_degrade(hr, 4, make_psf(4, kernel_size=2, sigma=1.0))
    np.testing.assert_allclose(lr[0, 0], [1.5, 5.5, 9.5, 13.5], atol=1e-5)
