from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spectra_distill.data import read_geotiff, read_npy_cube, write_npy_cube
from spectra_distill.data.readers import read_mat_array, read_png_stack, to_chw
from spectra_distill.errors import BandCountError, DatasetError, TruncatedFileError

RNG = np.random.default_rng(1)
CUBE = RNG.integers(0, 65535, size=(3, 4, 5)).astype(np.uint16)


@pytest.mark.parametrize("layout", ["hwc", "chw"])
def test_npy_round_trip(tmp_path: Path, layout: str) -> None:
    path = write_npy_cube(tmp_path / "c.npy", CUBE, layout)
    stored = np.load(path)
    assert stored.shape == ((4, 5, 3) if layout == "hwc" else (3, 4, 5))
    np.testing.assert_array_equal(read_npy_cube(path, layout), CUBE)


def test_npy_errors(tmp_path: Path) -> None:
    path = write_npy_cube(tmp_path / "c.npy", CUBE, "hwc")
    short = tmp_path / "short.npy"
    short.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(TruncatedFileError, match=r"short\.npy"):
        read_npy_cube(short, "hwc")
    with pytest.raises(DatasetError, match="Unknown layout 'whc'"):
        read_npy_cube(path, "whc")
    np.save(tmp_path / "flat.npy", np.zeros((4, 5)))
    with pytest.raises(BandCountError, match=r"flat\.npy.*3-D"):
        read_npy_cube(tmp_path / "flat.npy", "hwc")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(DatasetError, match=r"junk\.npy"):
        read_npy_cube(tmp_path / "junk.npy", "hwc")


def test_png_stack_16bit(tmp_path: Path) -> None:
    from PIL import Image

    paths = []
    for i, band in enumerate(CUBE):
        p = tmp_path / f"b_{i:02d}.png"
        Image.fromarray(band).save(p)
        paths.append(p)
    stack = read_png_stack(paths)
    assert stack.dtype == np.uint16
    np.testing.assert_array_equal(stack, CUBE)
    Image.fromarray(np.zeros((2, 2), np.uint16)).save(tmp_path / "small.png")
    with pytest.raises(BandCountError, match=r"small\.png"):
        read_png_stack([*paths, tmp_path / "small.png"])


def test_mat_variable(tmp_path: Path) -> None:
    import scipy.io

    scipy.io.savemat(tmp_path / "m.mat", {"Y": CUBE.transpose(1, 2, 0)})
    np.testing.assert_array_equal(to_chw(read_mat_array(tmp_path / "m.mat", "Y"), "hwc"), CUBE)
    with pytest.raises(DatasetError, match="no variable 'X'; it has Y"):
        read_mat_array(tmp_path / "m.mat", "X")


def test_geotiff_planar_with_nodata(tmp_path: Path) -> None:
    import tifffile

    data = CUBE.astype(np.float32)
    tifffile.imwrite(
        tmp_path / "t.tif",
        data,
        planarconfig="separate",
        photometric="minisblack",
        extratags=[(42113, "s", 0, "-32768", True)],
    )
    arr, nodata = read_geotiff(tmp_path / "t.tif")
    np.testing.assert_array_equal(arr, data)
    assert nodata == -32768.0
