"""Synthetic scenes (real spectra placed by real photographs) and the descriptors of the third-session scenes.

Everything that reads the shared data skips cleanly without it (``data_root`` fixture).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from spectra_distill.data import GRIDS, load_scenes, resample_cube
from spectra_distill.data.synthetic import SyntheticSceneConfig, soft_abundances, synthetic_scene
from spectra_distill.errors import DatasetError

SMALL = SyntheticSceneConfig(size=48)
VNIR_SWIR = GRIDS["vnir_swir_10nm"]


def test_soft_abundances_sum_to_one_and_sharpen() -> None:
    rng = np.random.default_rng(0)
    feats = rng.random((20, 30, 4))
    centres = rng.random((5, 4))
    for t in (0.01, 0.3, 10.0):
        a = soft_abundances(feats, centres, t)
        assert a.shape == (5, 20, 30) and a.dtype == np.float32
        assert a.min() >= 0
        np.testing.assert_allclose(a.sum(axis=0), 1.0, atol=1e-5)
    hard, soft = soft_abundances(feats, centres, 0.01), soft_abundances(feats, centres, 10.0)
    assert hard.max(axis=0).mean() > 0.95 > soft.max(axis=0).mean()
    # the winner is the nearest centre
    d2 = ((feats[None] - centres[:, None, None]) ** 2).sum(-1)
    assert np.array_equal(hard.argmax(axis=0), d2.argmin(axis=0))
    with pytest.raises(ValueError, match="temperature"):
        soft_abundances(feats, centres, 0.0)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="endmembers"):
        SyntheticSceneConfig(endmembers=(0, 3))
    with pytest.raises(ValueError, match="shading"):
        SyntheticSceneConfig(shading=1.0)
    assert SyntheticSceneConfig(size=(32, 40)).hw == (32, 40)


def test_missing_data_root_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError):
        synthetic_scene(VNIR_SWIR.wavelengths, index=0, cfg=SMALL, root=tmp_path)


def test_deterministic_per_seed_and_index(data_root: Path) -> None:
    wl, fw = VNIR_SWIR.wavelengths, VNIR_SWIR.fwhm
    a = synthetic_scene(wl, fw, index=3, seed=7, cfg=SMALL, root=data_root)
    b = synthetic_scene(wl, fw, index=3, seed=7, cfg=SMALL, root=data_root)
    assert np.array_equal(a.data, b.data) and a.provenance == b.provenance
    assert not np.allclose(a.data, synthetic_scene(wl, fw, index=4, seed=7, cfg=SMALL, root=data_root).data)
    assert not np.allclose(a.data, synthetic_scene(wl, fw, index=3, seed=8, cfg=SMALL, root=data_root).data)
    prov = a.provenance
    assert prov["dataset"] == "synthetic" and prov["scene"] == "synthetic_3"
    assert Path(prov["path"]).is_file() and Path(prov["path"]).is_relative_to(data_root)


@pytest.mark.parametrize("grid", ["vnir_swir_10nm", "cave31", "irregular"])
def test_on_requested_grid_finite_in_range(data_root: Path, grid: str) -> None:
    if grid == "irregular":
        wl = np.sort(np.random.default_rng(1).uniform(380, 2500, size=37))
        fw = np.full(wl.shape, 15.0)
    else:
        wl, fw = GRIDS[grid].wavelengths, GRIDS[grid].fwhm
    cfg = replace(SMALL, size=(40, 56))
    for index in range(4):
        c = synthetic_scene(wl, fw, index=index, seed=0, cfg=cfg, root=data_root)
        assert c.data.shape == (wl.size, 40, 56) and c.data.dtype == np.float32
        np.testing.assert_array_equal(c.wavelengths, wl)
        np.testing.assert_array_equal(c.fwhm, fw)
        assert np.isfinite(c.data).all()
        assert c.data.min() >= 0.0 and c.data.max() <= 1.5 and c.data.max() > 0.01
        assert c.valid is None and c.band_mask is None


def test_same_scene_on_every_grid(data_root: Path) -> None:
    """Draws do not depend on the grid: the cave31 scene is the 400-700 nm part of the 206-band one."""
    full = synthetic_scene(VNIR_SWIR.wavelengths, VNIR_SWIR.fwhm, index=5, seed=2, cfg=SMALL, root=data_root)
    cave = synthetic_scene(GRIDS["cave31"].wavelengths, GRIDS["cave31"].fwhm, index=5, seed=2, cfg=SMALL,
                           root=data_root)  # fmt: skip
    np.testing.assert_allclose(cave.data, full.data[:31], atol=1e-5)


def test_spatial_structure_present(data_root: Path) -> None:
    """Edges and texture from the photograph: gradient energy well above that of a blurred copy."""
    cfg = SyntheticSceneConfig(size=64, ms_tile_fraction=0.0)
    ratios = []
    for index in range(6):
        x = synthetic_scene(VNIR_SWIR.wavelengths, VNIR_SWIR.fwhm, index=index, cfg=cfg, root=data_root)
        band = x.data[30]  # 700 nm
        blurred = gaussian_filter(band, 2.0)

        def grad_energy(img: np.ndarray) -> float:
            return float(np.mean(np.diff(img, axis=0) ** 2) + np.mean(np.diff(img, axis=1) ** 2))

        assert band.std() > 1e-3
        ratios.append(grad_energy(band) / max(grad_energy(blurred), 1e-12))
    assert np.median(ratios) > 2.0, ratios


def test_sentinel2_structure(data_root: Path) -> None:
    if not any((data_root / "ms_tiles").glob("*/*_10m_*x*x4_uint16.npy")):
        pytest.skip("no Sentinel-2 10 m patches")
    cfg = replace(SMALL, ms_tile_fraction=1.0)
    c = synthetic_scene(VNIR_SWIR.wavelengths, VNIR_SWIR.fwhm, index=0, cfg=cfg, root=data_root)
    assert "ms_tiles" in c.provenance["path"] and np.isfinite(c.data).all()


# --- descriptors of the third-session scenes (SOURCES.md 12-15) ---------------------------------------------

# scene: (bands, H, W, value_scale, valid bands on vnir_swir_10nm, valid bands on cave31, max <=)
NEW_SCENES = {
    "abu_airport_1": (205, 100, 100, 10000.0, 203, 31, 1.2),
    "abu_airport_2": (205, 100, 100, 10000.0, 203, 31, 1.2),
    "abu_airport_4": (191, 100, 100, 10000.0, 195, 31, 1.2),
    "abu_beach_1": (188, 150, 150, 10000.0, 189, 31, 1.2),
    "abu_beach_2": (193, 100, 100, 10000.0, 194, 31, 1.2),
    "abu_urban_1": (204, 100, 100, 10000.0, 204, 31, 1.2),
    "abu_urban_2": (207, 100, 100, 10000.0, 204, 31, 1.5),  # bright anomalies: max 14060 raw
    "abu_urban_4": (205, 100, 100, 10000.0, 202, 31, 2.0),  # bright anomalies: max 19492 raw
    "abu_urban_5": (205, 100, 100, 10000.0, 203, 31, 1.2),
    "abu_beach_4_rosis": (102, 100, 100, 1.0, 42, 27, 1.2),
    "hydice_urban": (162, 80, 100, 600.0, 159, 27, 1.2),
    "san_diego_aviris_i": (189, 120, 120, 10000.0, 182, 27, 1.2),
    "muufl_anomaly_demo": (72, 51, 88, 1.0, 65, 31, 1.2),
    "muufl_target_demo": (72, 36, 36, 1.0, 65, 31, 1.2),
    "muufl_class_demo": (72, 31, 20, 1.0, 65, 31, 1.2),
}
NEW_FOLDERS = ["abu_anomaly", "hydice_urban_anomaly", "san_diego_aviris", "muufl_gulfport_sub"]


@pytest.fixture(scope="module")
def new_scenes(data_root: Path) -> dict:
    present = [f for f in NEW_FOLDERS if (data_root / f).is_dir()]
    if not present:
        pytest.skip("none of the third-session scene folders is present")
    return {c.provenance["scene"]: c for c in load_scenes(data_root, names=present)}


@pytest.mark.parametrize("name", sorted(NEW_SCENES))
def test_new_scene_loads_and_resamples(new_scenes: dict, name: str) -> None:
    if name not in new_scenes:
        pytest.skip(f"{name} not present")
    bands, h, w, scale, n_swir, n_cave, top = NEW_SCENES[name]
    c = new_scenes[name]
    assert c.data.shape == (bands, h, w) and c.provenance["value_scale"] == scale
    assert c.provenance["approx_wavelengths"] == (not name.startswith("muufl"))
    assert np.isfinite(c.data).all() and c.data.min() >= -0.2 and 0.3 < c.data.max() <= top
    for grid, expected in (("vnir_swir_10nm", n_swir), ("cave31", n_cave)):
        g = GRIDS[grid]
        r = resample_cube(c, g.wavelengths, g.fwhm)
        valid = r.band_mask.sum() if r.band_mask is not None else r.bands
        assert (r.bands, int(valid)) == (g.wavelengths.size, expected)
