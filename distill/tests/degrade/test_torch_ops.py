from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spectra_distill.degrade.noise import measured_snr_db
from spectra_distill.degrade.psf import default_psf, make_psf, spatial_degrade
from spectra_distill.degrade.srf import srf_matrix
from spectra_distill.degrade.torch_ops import add_awgn_torch, spatial_degrade_torch, srf_project_torch
from spectra_distill.errors import BandCountError, ScaleError


@pytest.mark.parametrize("scale,psf", [(4, None), (8, None), (4, (12, 1.7)), (4, (2, 0.8))])
def test_spatial_degrade_matches_numpy(scale: int, psf: tuple[int, float] | None) -> None:
    p = default_psf(scale) if psf is None else make_psf(scale, *psf)
    x = np.random.default_rng(0).random((2, 5, 32, 48)).astype(np.float32)
    ref = spatial_degrade(x, scale, p)
    out = spatial_degrade_torch(torch.from_numpy(x), scale, p).numpy()
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=1e-5)
    with pytest.raises(ScaleError):
        spatial_degrade_torch(torch.zeros(1, 1, 30, 32), scale, p)


def test_srf_projection_matches_numpy(srf_dir: Path) -> None:
    wl = np.arange(400.0, 1001.0, 20.0)
    m = srf_matrix("srf=synthetic.csv:B,G,R,NIR", wl, srf_dir=srf_dir)
    x = np.random.default_rng(1).random((3, wl.size, 8, 8)).astype(np.float32)
    out = srf_project_torch(torch.from_numpy(x), m).numpy()
    np.testing.assert_allclose(out, np.stack([m.project(s) for s in x]), atol=1e-5)
    with pytest.raises(BandCountError):
        srf_project_torch(torch.zeros(1, 3, 8, 8), m)


def test_torch_noise_snr_per_sample() -> None:
    x = torch.rand(2, 6, 32, 32)
    x[1] *= 0.05
    g = torch.Generator().manual_seed(0)
    y = add_awgn_torch(x, 30.0, g, band_mask=torch.tensor([True] * 5 + [False]))
    for i in range(2):
        assert measured_snr_db(x[i, :5].numpy(), y[i, :5].numpy()) == pytest.approx(30.0, abs=0.5)
    assert torch.equal(y[:, 5], x[:, 5])


@pytest.mark.gpu
def test_cuda_ops_match_numpy(srf_dir: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    psf = default_psf(4)
    x = np.random.default_rng(3).random((4, 31, 64, 64)).astype(np.float32)
    ref = spatial_degrade(x, 4, psf)
    out = spatial_degrade_torch(torch.from_numpy(x).cuda(), 4, psf).cpu().numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5)
    wl = np.arange(400.0, 1001.0, 20.0)
    m = srf_matrix("srf=synthetic.csv:B,G,R,NIR", wl, srf_dir=srf_dir)
    hsi = np.random.default_rng(4).random((2, wl.size, 32, 32)).astype(np.float32)
    got = srf_project_torch(torch.from_numpy(hsi).cuda(), m).cpu().numpy()
    np.testing.assert_allclose(got, np.stack([m.project(s) for s in hsi]), atol=1e-5)


def test_resize_down_is_the_libraries_resize() -> None:
    from spectra_distill.degrade.torch_ops import resize_down

    hr = np.random.default_rng(0).random((3, 16, 24))
    area = resize_down(hr, 4, "area")
    assert area.shape == (3, 4, 6) and area.dtype == np.float32
    np.testing.assert_allclose(area, hr.reshape(3, 4, 4, 6, 4).mean(axis=(2, 4)), atol=1e-6)
    # a constant stays constant (the kernel sums to one) and a ramp stays a ramp through the block middles
    np.testing.assert_allclose(resize_down(np.full((2, 16, 16), 0.3), 4, "bicubic"), 0.3, atol=1e-6)
    ramp = np.tile(np.arange(32.0), (1, 32, 1))
    inner = resize_down(ramp, 4, "bicubic")[0, 2:-2, 2:-2]
    np.testing.assert_allclose(inner, np.tile(np.arange(2, 6) * 4 + 1.5, (4, 1)), atol=1e-4)
    with pytest.raises(ValueError, match="Unknown resize mode 'nearest'; known: bicubic, area"):
        resize_down(hr, 4, "nearest")
