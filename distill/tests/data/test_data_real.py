"""Every shared dataset loads with the documented shape, scale and wavelengths (skips without the data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spectra_distill.data import load_library, load_msi, load_scenes, load_srf, read_envi, read_geotiff
from spectra_distill.data.readers import read_mat_array, read_npy_cube
from spectra_distill.errors import DatasetError

# scene -> (bands, H, W, wavelengths strictly increasing)
EXPECTED = {
    "jasper_ridge": (198, 100, 100, True),
    "salinas_a": (204, 83, 86, False),  # spectrometer overlap: channel 33 < channel 32
    "moffett_field": (189, 50, 50, False),  # assumed AVIRIS 1995 table: same overlap as Salinas
    "samson": (156, 95, 95, True),
    "houston2018": (48, 128, 128, True),
    "enmap_potsdam": (224, 192, 160, False),  # VNIR/SWIR overlap 902-993 nm
    "cave_cloth": (31, 256, 256, True),
    "cave_chart_and_stuffed_toy": (31, 150, 150, True),
    "cave_balloons": (31, 100, 100, True),
    "cave_balloons_ms_partial": (20, 512, 640, True),
    "abu_airport_1": (205, 100, 100, True),
    "abu_airport_2": (205, 100, 100, True),
    "abu_airport_4": (191, 100, 100, True),
    "abu_beach_1": (188, 150, 150, True),
    "abu_beach_2": (193, 100, 100, True),
    "abu_beach_4_rosis": (102, 100, 100, True),
    "abu_urban_1": (204, 100, 100, True),
    "abu_urban_2": (207, 100, 100, True),
    "abu_urban_4": (205, 100, 100, True),
    "abu_urban_5": (205, 100, 100, True),
    "hydice_urban": (162, 80, 100, True),
    "san_diego_aviris_i": (189, 120, 120, False),  # AVIRIS spectrometer overlap, as Salinas
    "muufl_anomaly_demo": (72, 51, 88, True),
    "muufl_target_demo": (72, 36, 36, True),
    "muufl_class_demo": (72, 31, 20, True),
}

# One fixed scale per sensor keeps the ABU radiance anomalies (raw up to 19492) above 1; MUUFL has a constant
# floor of -0.18 in its first band; the ABU centres are extrapolated below 350 nm at the short end.
VALUE_RANGE = {
    "abu_urban_2": (-0.1, 1.5),
    "abu_urban_4": (-0.1, 2.0),
    "muufl_anomaly_demo": (-0.2, 1.2),
    "muufl_target_demo": (-0.2, 1.2),
    "muufl_class_demo": (-0.2, 1.2),
}
SHORTEST_NM = {name: 340 for name in EXPECTED if name.startswith("abu_") and "rosis" not in name}


@pytest.fixture(scope="module")
def scenes(data_root: Path) -> dict:
    return {c.provenance["scene"]: c for c in load_scenes(data_root)}


def test_all_scenes_present(scenes: dict) -> None:
    assert sorted(scenes) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scene_shape_range_wavelengths(scenes: dict, name: str) -> None:
    cube = scenes[name]
    bands, h, w, increasing = EXPECTED[name]
    assert cube.data.shape == (bands, h, w) and cube.data.dtype == np.float32
    good = cube.band_mask if cube.band_mask is not None else np.ones(bands, bool)
    values = cube.data[good][:, cube.valid]
    assert values.size and np.isfinite(values).all()
    lo, hi = VALUE_RANGE.get(name, (-0.1, 1.2))
    assert values.min() >= lo and 0.3 < values.max() <= hi
    wl = cube.wavelengths
    assert wl.min() > SHORTEST_NM.get(name, 350) and wl.max() < 2600
    assert bool(np.all(np.diff(wl) > 0)) == increasing
    prov = cube.provenance
    assert {"dataset", "scene", "path", "sensor", "value_scale", "approx_wavelengths"} <= set(prov)
    assert Path(prov["path"]).exists()


def test_enmap_masks(scenes: dict) -> None:
    cube = scenes["enmap_potsdam"]
    assert (~cube.band_mask).sum() == 6
    np.testing.assert_allclose(cube.wavelengths[~cube.band_mask][[0, -1]], [1331.22, 1390.84])
    assert cube.valid.sum() == 18432 and not cube.provenance["approx_wavelengths"]
    assert np.all(cube.data[:, ~cube.valid] == 0) and np.all(cube.data[~cube.band_mask] == 0)


def test_salinas_envi_equals_npy(data_root: Path) -> None:
    folder = data_root / "salinas_a"
    envi = read_envi(folder / "SalinasA_corrected.hdr", wavelengths=np.arange(204.0))
    npy = read_npy_cube(next(folder.glob("salinas_a_*_int16.npy")), "hwc")
    np.testing.assert_array_equal(envi.data, npy.astype(np.float32))


def test_enmap_tile_equals_mosaic_window(data_root: Path, scenes: dict) -> None:
    folder = data_root / "enmap_potsdam"
    tile, nodata = read_geotiff(folder / "original_tiles" / "enmap_potsdam_tile_128_0.tif")
    assert tile.shape == (224, 32, 32) and tile.dtype == np.float32 and nodata == -32768
    mosaic = read_npy_cube(next(folder.glob("enmap_potsdam_mosaic_*_int16.npy")), "hwc")
    np.testing.assert_array_equal(tile, mosaic[:, 0:32, 128 - 64 : 128 - 64 + 32].astype(np.float32))


def test_houston_mat_equals_npy_and_real_msi(data_root: Path) -> None:
    folder = data_root / "houston2018_crop"
    mat = read_mat_array(folder / "houston_dataset.mat", "hyprImg")
    np.testing.assert_array_equal(mat, np.load(next(folder.glob("houston_hsi_*.npy"))))
    msi = load_msi("houston2018", data_root)
    assert msi.data.shape == (3, 512, 512)
    assert 0.97 < msi.valid.mean() < 0.99  # the documented 1.9 % mosaic gap
    with pytest.raises(DatasetError, match="has no real MSI; scenes with one: houston2018"):
        load_msi("jasper_ridge", data_root)


def test_load_scenes_by_dataset_and_unknown(data_root: Path) -> None:
    names = [c.provenance["scene"] for c in load_scenes(data_root, names=["cave_kbr"])]
    assert names == ["cave_cloth", "cave_chart_and_stuffed_toy", "cave_balloons"]
    with pytest.raises(DatasetError, match="Unknown scene or dataset 'nope'"):
        load_scenes(data_root, names=["nope"])


def test_srf_and_libraries(data_root: Path) -> None:
    nikon = load_srf("nikon_d700", data_root)
    assert nikon.names == ("R", "G", "B") and nikon.responses.shape == (33, 3)
    peaks = nikon.wavelengths[nikon.responses.argmax(axis=0)]
    np.testing.assert_array_equal(peaks, [590, 530, 460])
    s2 = load_srf(data_root / "srf" / "s2a_msi_srf.csv")
    assert s2.wavelengths[s2.band("B4").argmax()] == pytest.approx(654, abs=2)
    with pytest.raises(DatasetError, match="Unknown SRF 'nope'; known: .*nikon_d700_srf"):
        load_srf("nope", data_root)
    usgs = load_library("usgs1995_aviris224", data_root)
    assert usgs.spectra.shape == (498, 224) and usgs.fwhm is not None
    earth = load_library("earthlib_optimized", data_root)
    assert earth.spectra.shape == (317, 180)  # repeated spectrum names are kept
    assert len(earth.matching("simulated").names) == 69
