from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spectra_distill.data.cube import Cube
from spectra_distill.degrade.misregister import shift_hr
from spectra_distill.degrade.noise import measured_snr_db
from spectra_distill.degrade.pipeline import WaldConfig, make_pair, make_real_pair
from spectra_distill.degrade.psf import default_psf, spatial_degrade
from spectra_distill.errors import NonFiniteError, ScaleError, SRFCoverageError

WL = np.arange(400.0, 1001.0, 20.0)


def _cube(h: int = 32, w: int = 48, seed: int = 0, **kw: object) -> Cube:
    data = np.random.default_rng(seed).random((WL.size, h, w)).astype(np.float32)
    return Cube(data=data, wavelengths=WL, provenance={"path": "synthetic.npy"}, **kw)


def _cfg(srf_dir: Path, **kw: object) -> WaldConfig:
    return WaldConfig(msi="srf=synthetic.csv:B,G,R,NIR", srf_dir=str(srf_dir), **kw)


def test_make_pair_shapes_and_clean_lr(srf_dir: Path) -> None:
    cube = _cube()
    pair = make_pair(cube, _cfg(srf_dir))
    assert pair.lrhsi.data.shape == (WL.size, 8, 12)
    assert pair.hrmsi.data.shape == (4, 32, 48)
    assert pair.hrhsi is cube
    np.testing.assert_allclose(pair.lrhsi.data, spatial_degrade(cube.data, 4, default_psf(4)))
    np.testing.assert_allclose(pair.hrmsi.data, np.tensordot(pair.srf.matrix, cube.data, 1), atol=1e-6)
    np.testing.assert_allclose(pair.hrmsi.wavelengths, pair.srf.centroids)


def test_noise_only_on_lr_and_seeded(srf_dir: Path) -> None:
    cube = _cube(64, 64)
    clean = make_pair(cube, _cfg(srf_dir))
    a = make_pair(cube, _cfg(srf_dir, snr_db=35.0, seed=3))
    b = make_pair(cube, _cfg(srf_dir, snr_db=35.0, seed=3))
    np.testing.assert_array_equal(a.lrhsi.data, b.lrhsi.data)
    np.testing.assert_array_equal(a.hrmsi.data, clean.hrmsi.data)
    assert measured_snr_db(clean.lrhsi.data, a.lrhsi.data) == pytest.approx(35.0, abs=0.5)


def test_misregistration_shifts_before_blur(srf_dir: Path) -> None:
    cube = _cube()
    pair = make_pair(cube, _cfg(srf_dir, misregistration_px=2))
    np.testing.assert_allclose(pair.lrhsi.data, spatial_degrade(shift_hr(cube.data, 2, 2), 4), atol=1e-7)
    assert not np.allclose(pair.lrhsi.data, make_pair(cube, _cfg(srf_dir)).lrhsi.data)


def test_invalid_pixels_invalidate_their_lr_footprint(srf_dir: Path) -> None:
    valid = np.ones((32, 48), dtype=bool)
    valid[10, 20] = False
    pair = make_pair(_cube(valid=valid), _cfg(srf_dir))
    lr_valid = pair.lrhsi.valid
    assert lr_valid is not None and lr_valid.shape == (8, 12)
    # HR row 10 / col 20 lie under the 8-tap footprints of LR rows 2-3 and cols 4-5
    assert set(zip(*np.nonzero(~lr_valid), strict=True)) == {(2, 4), (2, 5), (3, 4), (3, 5)}


def test_errors_name_the_problem(srf_dir: Path) -> None:
    with pytest.raises(ScaleError, match="30 x 48"):
        make_pair(_cube(h=30), _cfg(srf_dir))
    bad = _cube()
    bad.data[2, 3, 4] = np.nan
    with pytest.raises(NonFiniteError, match="synthetic.npy"):
        make_pair(bad, _cfg(srf_dir))
    narrow = Cube(np.zeros((16, 8, 8)), np.arange(400.0, 560.0, 10.0), provenance={"path": "narrow.npy"})
    with pytest.raises(SRFCoverageError, match="narrow.npy"):
        make_pair(narrow, _cfg(srf_dir))


def test_real_pair_degrades_both_and_keeps_reference() -> None:
    hsi = _cube(32, 32)
    msi = Cube(np.random.default_rng(2).random((3, 128, 128)), np.array([460.0, 530.0, 590.0]))
    pair = make_real_pair(hsi, msi, 4)
    assert pair.lrhsi.data.shape == (WL.size, 8, 8)
    assert pair.hrmsi.data.shape == (3, 32, 32)
    assert pair.hrhsi is hsi and pair.srf is None
    with pytest.raises(ScaleError, match="needs the MSI 4x larger"):
        make_real_pair(hsi, msi.crop(0, 0, 64, 64), 4)
