from __future__ import annotations

import numpy as np
import pytest

from spectra_distill.baselines import BASELINES, assign_bands, bicubic_upsample
from spectra_distill.baselines.methods import run_baseline
from spectra_distill.data.cube import Cube
from spectra_distill.degrade.pipeline import FusionPair
from spectra_distill.degrade.psf import default_psf, spatial_degrade
from spectra_distill.degrade.srf import SRFMatrix
from spectra_distill.metrics import psnr, sam

WL = np.arange(400.0, 1001.0, 15.0)  # 41 bands, VNIR


def _srf(centres: list[float], width: float = 30.0) -> SRFMatrix:
    m = np.stack([np.exp(-0.5 * ((WL - c) / width) ** 2) for c in centres])
    m[m < 1e-3] = 0.0
    m /= m.sum(axis=1, keepdims=True)
    names = tuple(f"C{c:.0f}" for c in centres)
    return SRFMatrix(m, names, m @ WL, np.zeros(len(centres)), "synthetic", "synthetic.csv")


def _scene(size: int = 64, seed: int = 0) -> Cube:
    """Three smooth endmember spectra mixed by abundance maps with sharp edges and fine texture."""
    rng = np.random.default_rng(seed)
    spectra = np.stack(
        [
            0.2 + 0.6 / (1 + np.exp(-(WL - 720) / 15)),  # vegetation-like red edge
            0.1 + 0.0004 * (WL - 400),  # soil-like ramp
            0.05 + 0.3 * np.exp(-0.5 * ((WL - 500) / 40) ** 2),  # blue-ish material
        ]
    )
    yy, xx = np.mgrid[:size, :size]
    a = (
        np.stack(
            [
                ((xx // 5 + yy // 7) % 2).astype(float),
                (np.hypot(yy - size / 2, xx - size / 3) < size / 4).astype(float),
                rng.random((size, size)) > 0.7,
            ]
        ).astype(float)
        + 0.1
    )
    a /= a.sum(axis=0, keepdims=True)
    return Cube(np.tensordot(spectra.T, a, axes=1), WL)


def _pair(cube: Cube, srf: SRFMatrix | None, scale: int = 4) -> FusionPair:
    psf = default_psf(scale)
    lr = cube.with_data(spatial_degrade(cube.data, scale, psf))
    msi = Cube(srf.project(cube.data), srf.centroids) if srf is not None else None
    assert msi is not None
    return FusionPair(lrhsi=lr, hrmsi=msi, hrhsi=cube, srf=srf, psf=psf, scale=scale)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_shapes_dtype_and_finite(name: str) -> None:
    cube = _scene(32)
    out = run_baseline(name, _pair(cube, _srf([470, 550, 650])))
    assert out.shape == cube.data.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("name", ["gsa", "mtf_glp_hpm", "sfim", "cnmf"])
def test_msi_detail_beats_bicubic(name: str) -> None:
    cube = _scene()
    pair = _pair(cube, _srf([470, 550, 650, 850]))
    base = psnr(run_baseline("bicubic", pair), cube.data)
    fused = run_baseline(name, pair)
    assert psnr(fused, cube.data) > base + 1.0
    assert sam(fused, cube.data) < sam(run_baseline("bicubic", pair), cube.data)


def test_bicubic_keeps_constant_and_aligns_with_degradation() -> None:
    np.testing.assert_allclose(bicubic_upsample(np.full((2, 8, 8), 0.3), 4), 0.3, atol=1e-12)
    ramp = np.tile(np.arange(64.0), (1, 64, 1))
    up = bicubic_upsample(spatial_degrade(ramp, 4), 4)
    np.testing.assert_allclose(up[0, 32, 12:-12], ramp[0, 32, 12:-12], atol=1e-9)


def test_band_assignment_rule() -> None:
    cube = _scene(32)
    srf = _srf([470, 550])  # nothing above ~640 nm
    pair = _pair(cube, srf)
    from spectra_distill.baselines.common import lowres_msi

    assign = assign_bands(pair, lowres_msi(pair))
    inside = srf.matrix.max(axis=0) > 0
    np.testing.assert_array_equal(assign[inside], np.argmax(srf.matrix[:, inside], axis=0))
    assert set(assign[~inside]) <= {0, 1} and (~inside).sum() > 10
    real = FusionPair(pair.lrhsi, pair.hrmsi, pair.hrhsi, None, pair.psf, 4)
    assert assign_bands(real, lowres_msi(real)).shape == (WL.size,)


def test_masked_bands_stay_zero() -> None:
    cube = _scene(32)
    mask = np.ones(WL.size, dtype=bool)
    mask[10:13] = False
    data = cube.data.copy()
    data[~mask] = 0.0
    cube = Cube(data, WL, band_mask=mask)
    srf = _srf([470, 650])
    srf = SRFMatrix(srf.matrix * mask, srf.band_names, srf.centroids, srf.lost_fraction, "s", "s.csv")
    for name in BASELINES:
        out = run_baseline(name, _pair(cube, srf))
        assert np.all(out[~mask] == 0.0), name


def test_unknown_method_names_the_choices() -> None:
    with pytest.raises(
        ValueError, match="Unknown baseline 'pca'; known: bicubic, gsa, mtf_glp_hpm, sfim, cnmf"
    ):
        run_baseline("pca", _pair(_scene(32), _srf([470, 550])))
