from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pytest

from spectra_distill.data import Cube, discover, load_scenes, valid_fraction, valid_patch_origins, write_envi
from spectra_distill.data.descriptors import (
    default_data_root,
    is_auto_described,
    load_descriptor,
    packaged_descriptors,
)
from spectra_distill.errors import DatasetError

SHARED_FOLDERS = {
    "aviris_wavelengths", "cave", "cave_kbr", "enmap_potsdam", "houston2018_crop", "jasper_ridge",
    "moffett_field", "salinas_a", "samson", "spectral_libraries", "srf", "abu_anomaly", "hydice_urban_anomaly",
    "muufl_gulfport_sub", "san_diego_aviris",
}  # fmt: skip


def test_packaged_descriptors_cover_shared_folders() -> None:
    ds = packaged_descriptors()
    assert set(ds) == SHARED_FOLDERS
    assert {d.folder for d in ds.values() if d.kind == "scene"} == SHARED_FOLDERS - {
        "aviris_wavelengths", "spectral_libraries", "srf",
    }  # fmt: skip
    assert ds["cave"].partial and ds["enmap_potsdam"].bad_bands is not None


def test_discover_real_root_without_warnings(data_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    with warnings.catch_warnings(), caplog.at_level(logging.INFO, logger="spectra_distill"):
        warnings.simplefilter("error")
        found = discover(data_root)
    assert not caplog.records, "undescribed folders are DEBUG notes; only load_scenes warns, per dataset used"
    described = {d.folder for d in found if not is_auto_described(d)}
    assert described == SHARED_FOLDERS


def test_default_root_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPECTRA_DATA", str(tmp_path))
    assert default_data_root() == tmp_path.resolve()
    monkeypatch.delenv("SPECTRA_DATA")
    assert default_data_root().parts[-2:] == ("shared", "data")


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    envi = root / "my_envi"
    envi.mkdir(parents=True)
    cube = Cube(np.full((3, 8, 8), 0.5, np.float32), [500.0, 600.0, 700.0])
    write_envi(envi / "scene.img", cube, dtype="uint16", value_scale=1000)
    npy = root / "my_npy"
    npy.mkdir()
    np.save(npy / "cube_8x8x4.npy", np.full((8, 8, 4), 2.0, np.float32))
    (npy / "cube_bands.csv").write_text("band_index,center_nm\n0,500\n1,510\n2,520\n3,530\n")
    (root / "junk").mkdir()
    (root / "junk" / "readme.txt").write_text("nothing")
    return root


def test_auto_describe_and_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_root(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="spectra_distill"):
        found = discover(root)
    # discovery walks the whole root: what it skips or guesses is a DEBUG note, not a warning
    assert {r.levelno for r in caplog.records} == {logging.DEBUG}
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "junk: no descriptor and nothing recognisable" in messages
    assert "my_envi: no descriptor; auto-described" in messages
    assert {d.folder: d.format for d in found} == {"my_envi": "envi", "my_npy": "npy"}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="spectra_distill"):
        cubes = {c.provenance["scene"]: c for c in load_scenes(root)}
    warned = sorted(r.getMessage().split(":")[0] for r in caplog.records if r.levelno == logging.WARNING)
    assert warned == [str(root / "my_envi"), str(root / "my_npy")], "one warning per auto-described dataset"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="spectra_distill"):
        load_scenes(root, names=["my_npy"])
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [str(root / "my_npy")], (
        "only the datasets a run loads are warned about"
    )
    # value_scale 'auto': the 99.9th percentile rounded up to two significant digits.
    assert cubes["my_envi_scene"].provenance["value_scale"] == 500.0
    np.testing.assert_allclose(cubes["my_npy_cube_8x8x4"].data, 1.0)


def test_extra_descriptor_dir_overrides(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_root(tmp_path)
    extra = tmp_path / "desc"
    extra.mkdir()
    (extra / "my_npy.yaml").write_text(
        "folder: my_npy\nkind: scene\nformat: npy\nlayout: hwc\nvalue_scale: 4\nnodata: 2.0\n"
        "wavelengths: {source: linear, start: 400, step: 5, approx: true}\n"
        "scenes: [{name: custom, files: 'cube_*.npy'}]\n"
    )
    with caplog.at_level(logging.INFO, logger="spectra_distill"):
        (cube,) = load_scenes(root, names=["custom"], descriptor_dir=extra)
    assert not caplog.records, "a described dataset loads without a warning, whatever else the root holds"
    np.testing.assert_array_equal(cube.wavelengths, [400, 405, 410, 415])
    assert not cube.valid.any() and valid_fraction(cube) == 0.0
    assert cube.provenance["approx_wavelengths"] is True


def test_bad_descriptors(tmp_path: Path) -> None:
    p = tmp_path / "d.yaml"
    p.write_text("folder: x\nkind: scene\nformat: hdf5\n")
    with pytest.raises(DatasetError, match=r"d\.yaml.*Unknown format 'hdf5'"):
        load_descriptor(p)
    p.write_text("folder: x\nkind: scene\nformats: npy\n")
    with pytest.raises(DatasetError, match=r"unknown keys \['formats'\]"):
        load_descriptor(p)
    p.write_text("folder: x\nkind: scene\nscenes: [{name: a, files: '*.npy'}]\n")
    with pytest.raises(DatasetError, match="needs a 'wavelengths' section"):
        load_descriptor(p)
    with pytest.raises(DatasetError, match="Data root is not a folder"):
        discover(tmp_path / "missing")


def test_scene_file_glob_problems(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "x").mkdir(parents=True)
    extra = tmp_path / "desc"
    extra.mkdir()
    (extra / "x.yaml").write_text(
        "folder: x\nkind: scene\nformat: npy\nwavelengths: {source: linear, start: 400, step: 10}\n"
        "scenes: [{name: a, files: 'a_*.npy'}]\n"
    )
    with pytest.raises(DatasetError, match=r"No file matches scene 'a' glob"):
        load_scenes(root, descriptor_dir=extra)
    np.save(root / "x" / "a_1.npy", np.zeros((2, 2, 3)))
    np.save(root / "x" / "a_2.npy", np.zeros((2, 2, 3)))
    with pytest.raises(DatasetError, match="match 2 files; expected one"):
        load_scenes(root, descriptor_dir=extra)


def test_valid_patch_origins_skip_invalid() -> None:
    valid = np.ones((16, 16), bool)
    valid[5, 9] = False
    cube = Cube(np.zeros((1, 16, 16), np.float32), [500.0], valid=valid)
    origins = valid_patch_origins(cube, 8, align=4)
    assert {tuple(o) for o in origins} == {(0, 0), (4, 0), (8, 0), (8, 4), (8, 8)}
    for r, c in origins:
        assert valid[r : r + 8, c : c + 8].all()
    assert len(valid_patch_origins(cube.with_data(cube.data, valid=None), 8, align=4)) == 9
    assert valid_patch_origins(cube, 32).shape == (0, 2)


def test_geotiff_and_mat_scenes_via_descriptor(tmp_path: Path) -> None:
    import scipy.io
    import tifffile

    folder = tmp_path / "root" / "mixed"
    folder.mkdir(parents=True)
    tile = np.full((3, 4, 4), 5000.0, np.float32)
    tile[:, 1, 2] = -32768.0
    tifffile.imwrite(
        folder / "tile_0_0.tif",
        tile,
        planarconfig="separate",
        photometric="minisblack",
        extratags=[(42113, "s", 0, "-32768", True)],
    )
    scipy.io.savemat(folder / "m.mat", {"Y": np.full((4, 4, 3), 2500, np.uint16)})
    extra = tmp_path / "desc"
    extra.mkdir()
    (extra / "mixed.yaml").write_text(
        "folder: mixed\nkind: scene\nformat: geotiff\nlayout: hwc\nvalue_scale: 10000\n"
        "wavelengths: {source: linear, start: 500, step: 10}\n"
        "scenes:\n  - {name: tif_scene, files: 'tile_*.tif'}\n"
        "  - {name: mat_scene, files: m.mat, format: mat, variable: Y}\n"
    )
    cubes = {c.provenance["scene"]: c for c in load_scenes(tmp_path / "root", descriptor_dir=extra)}
    tif = cubes["tif_scene"]
    assert tif.valid.sum() == 15 and not tif.valid[1, 2]  # GDAL nodata from the tile
    np.testing.assert_allclose(tif.data[:, tif.valid], 0.5)
    assert tif.data[0, 1, 2] == 0.0
    np.testing.assert_allclose(cubes["mat_scene"].data, 0.25)
