from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spectra_distill.data.cube import Cube
from spectra_distill.degrade.pipeline import WaldConfig
from spectra_distill.degrade.sampler import FusionPatchDataset, SamplerConfig
from spectra_distill.errors import BandCountError, DatasetError

WL = np.arange(400.0, 1001.0, 20.0)


def _coord_cube(h: int, w: int, valid: np.ndarray | None = None) -> Cube:
    """Band 0 holds the row index, band 1 the column index, so a patch tells where it came from."""
    data = np.random.default_rng(0).random((WL.size, h, w)).astype(np.float32)
    data[0] = np.arange(h)[:, None]
    data[1] = np.arange(w)[None, :]
    return Cube(data, WL, valid=valid)


def _wald(srf_dir: Path, **kw: object) -> WaldConfig:
    return WaldConfig(msi="srf=synthetic.csv:B,G,R,NIR", srf_dir=str(srf_dir), **kw)


def test_items_shapes_dtypes_and_aligned_offsets(srf_dir: Path) -> None:
    ds = FusionPatchDataset([_coord_cube(64, 80)], _wald(srf_dir), SamplerConfig(32, 20, augment=False))
    assert len(ds) == 20
    for i in range(20):
        item = ds[i]
        assert item["lrhsi"].shape == (WL.size, 8, 8) and item["hrmsi"].shape == (4, 32, 32)
        assert item["hrhsi"].shape == (WL.size, 32, 32) and item["band_mask"].shape == (WL.size,)
        assert all(t.dtype == torch.float32 for t in item.values())
        top, left = int(item["hrhsi"][0, 0, 0]), int(item["hrhsi"][1, 0, 0])
        assert top % 4 == 0 and left % 4 == 0


def test_patches_avoid_invalid_pixels(srf_dir: Path) -> None:
    valid = np.ones((64, 64), dtype=bool)
    valid[20:44, 20:44] = False
    cube = _coord_cube(64, 64, valid)
    ds = FusionPatchDataset([cube], _wald(srf_dir), SamplerConfig(16, 50, augment=False))
    for i in range(50):
        hr = ds[i]["hrhsi"].numpy()
        rows, cols = hr[0, :, 0].astype(int), hr[1, 0, :].astype(int)
        assert valid[np.ix_(rows, cols)].all()


def test_deterministic_per_epoch_and_index(srf_dir: Path) -> None:
    ds = FusionPatchDataset([_coord_cube(64, 64)], _wald(srf_dir, snr_db=35.0), SamplerConfig(32, 8, seed=5))
    a = ds[3]
    assert torch.equal(a["lrhsi"], ds[3]["lrhsi"])
    ds.set_epoch(1)
    assert not torch.equal(a["hrhsi"], ds[3]["hrhsi"]) or not torch.equal(a["lrhsi"], ds[3]["lrhsi"])


def test_noise_only_in_training(srf_dir: Path) -> None:
    wald = _wald(srf_dir, snr_db=30.0)
    clean = FusionPatchDataset([_coord_cube(32, 32)], wald, SamplerConfig(32, 1, augment=False, train=False))
    noisy = FusionPatchDataset([_coord_cube(32, 32)], wald, SamplerConfig(32, 1, augment=False))
    assert torch.equal(clean[0]["hrhsi"], noisy[0]["hrhsi"])
    assert not torch.equal(clean[0]["lrhsi"], noisy[0]["lrhsi"])
    assert torch.equal(clean[0]["hrmsi"], noisy[0]["hrmsi"])


def test_too_small_or_mismatched_cubes_rejected(srf_dir: Path) -> None:
    with pytest.raises(DatasetError, match="No 64px patch"):
        FusionPatchDataset([_coord_cube(32, 32)], _wald(srf_dir), SamplerConfig(64, 1))
    with pytest.raises(ValueError, match="multiple of the scale"):
        FusionPatchDataset([_coord_cube(32, 32)], _wald(srf_dir), SamplerConfig(30, 1))


def test_augmentation_rotates_and_flips_consistently(srf_dir: Path) -> None:
    from spectra_distill.degrade.psf import spatial_degrade

    ds = FusionPatchDataset([_coord_cube(64, 64)], _wald(srf_dir), SamplerConfig(16, 40, seed=2))
    orientations = set()
    for i in range(40):
        item = ds[i]
        hr = item["hrhsi"].numpy()
        np.testing.assert_allclose(item["lrhsi"].numpy(), spatial_degrade(hr, 4), atol=1e-6)
        rows_vary_down = bool(hr[0, 1, 0] != hr[0, 0, 0])
        orientations.add((rows_vary_down, float(np.sign(hr[0, -1, -1] - hr[0, 0, 0]))))
    assert len(orientations) == 4


@pytest.mark.parametrize(("power", "small_share"), [(1.0, 9 / 178), (0.5, 3 / 16), (0.0, 0.5)])
def test_region_power_draws_small_regions_more_often(srf_dir: Path, power: float, small_share: float) -> None:
    big, small = _coord_cube(64, 64), _coord_cube(24, 24)  # 13 x 13 and 3 x 3 patch positions
    small.data[2] = -1.0  # marks the patches that come from it
    cfg = SamplerConfig(16, 800, augment=False, region_power=power)
    ds = FusionPatchDataset([big, small], _wald(srf_dir), cfg)
    np.testing.assert_allclose(ds.cube_prob, [1 - small_share, small_share])
    drawn = np.mean([float(ds[i]["hrhsi"][2, 0, 0]) == -1.0 for i in range(len(ds))])
    assert abs(drawn - small_share) < 4 * np.sqrt(small_share * (1 - small_share) / len(ds))


def test_region_power_must_not_be_negative(srf_dir: Path) -> None:
    with pytest.raises(ValueError, match="region_power must be >= 0; got -1"):
        FusionPatchDataset([_coord_cube(32, 32)], _wald(srf_dir), SamplerConfig(16, 4, region_power=-1.0))


def test_patches_can_take_their_msi_from_another_camera(srf_dir: Path, make_srf_csv) -> None:
    # a second camera: the same four bands, 30 nm redder and wider
    make_srf_csv(srf_dir / "other.csv", {"B": 500.0, "G": 580.0, "R": 680.0, "NIR": 880.0}, width=30.0)
    cube = _coord_cube(64, 80)
    other = "srf=other.csv:B,G,R,NIR"

    def msi(prob: float, train: bool = True) -> torch.Tensor:
        cfg = SamplerConfig(32, 4, augment=False, train=train, msi_cameras=(other,), msi_camera_prob=prob)
        return FusionPatchDataset([cube], _wald(srf_dir), cfg)[0]["hrmsi"]

    card = msi(0.0)
    camera = msi(1.0)
    assert not torch.allclose(card, camera, atol=1e-3)  # another camera's response, on the same patch
    torch.testing.assert_close(msi(1.0, train=False), card)  # validation keeps the card's camera
    with pytest.raises(ValueError, match="msi_camera_prob"):
        FusionPatchDataset([cube], _wald(srf_dir), SamplerConfig(32, 4, msi_camera_prob=0.5))
    three = SamplerConfig(32, 4, msi_cameras=("srf=other.csv:B,G,R",), msi_camera_prob=0.5)
    with pytest.raises(BandCountError, match="has 3 bands; the card's MSI has 4"):
        FusionPatchDataset([cube], _wald(srf_dir), three)
