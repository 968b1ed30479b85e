from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from spectra_distill.data import Cube, read_envi, write_envi
from spectra_distill.data.envi import ENVI_DTYPES, parse_header, read_envi_array
from spectra_distill.errors import (
    DatasetError,
    TruncatedFileError,
    UnsupportedDataTypeError,
    WavelengthError,
)

DTYPES = [d.name for d in ENVI_DTYPES.values()]


def tiny_cube(dtype: str, seed: int = 0) -> Cube:
    rng = np.random.default_rng(seed)
    lo, hi = (0, 200) if dtype in ("uint8", "uint16") else (-100, 100)
    data = rng.integers(lo, hi, size=(3, 4, 5)).astype(np.float32)
    if dtype.startswith("float"):
        data += 0.25
    return Cube(data, wavelengths=[450.0, 550.5, 650.25], fwhm=[10.0, 11.0, 12.5])


@pytest.mark.parametrize(
    ("dtype", "interleave", "byte_order"), list(itertools.product(DTYPES, ("bsq", "bil", "bip"), (0, 1)))
)
def test_round_trip(tmp_path: Path, dtype: str, interleave: str, byte_order: int) -> None:
    cube = tiny_cube(dtype)
    hdr, raw = write_envi(tmp_path / "c.img", cube, dtype=dtype, interleave=interleave, byte_order=byte_order)
    back = read_envi(raw)
    np.testing.assert_array_equal(back.data, cube.data)
    np.testing.assert_allclose(back.wavelengths, cube.wavelengths)
    np.testing.assert_allclose(back.fwhm, cube.fwhm)
    header = parse_header(hdr)
    assert (header.interleave, header.byte_order, ENVI_DTYPES[header.data_type].name) == (
        interleave,
        byte_order,
        dtype,
    )
    assert raw.stat().st_size == cube.data.size * np.dtype(dtype).itemsize
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.hdr", "c.img"]  # no temporary files left


def test_reads_via_header_path_and_stores_interleave_order(tmp_path: Path) -> None:
    cube = tiny_cube("int16")
    hdr, raw = write_envi(tmp_path / "c.img", cube, dtype="int16", interleave="bip")
    flat = np.fromfile(raw, dtype="<i2")
    # BIP: all bands of pixel (0, 0) first.
    np.testing.assert_array_equal(flat[:3], cube.data[:, 0, 0])
    np.testing.assert_array_equal(read_envi(hdr).data, cube.data)


def test_value_scale_bbl_and_ignore_value(tmp_path: Path) -> None:
    data = np.full((3, 2, 2), 0.5, dtype=np.float32)
    valid = np.array([[True, False], [True, True]])
    cube = Cube(data, [400.0, 500.0, 600.0], valid=valid, band_mask=[True, False, True])
    write_envi(tmp_path / "c.img", cube, dtype="int16", value_scale=10000, nodata=-32768)
    raw, header = read_envi_array(tmp_path / "c.img")
    assert raw[0, 0, 1] == -32768 and raw[0, 0, 0] == 5000
    back = read_envi(tmp_path / "c.hdr", value_scale=10000)
    np.testing.assert_array_equal(back.valid, valid)
    np.testing.assert_array_equal(back.band_mask, [True, False, True])
    assert back.data[1].max() == 0.0  # bad band zeroed
    assert back.data[0, 0, 1] == 0.0 and back.data[0, 0, 0] == pytest.approx(0.5)


def write_raw(tmp_path: Path, header: str, nbytes: int) -> Path:
    (tmp_path / "x.hdr").write_text(header)
    (tmp_path / "x.img").write_bytes(bytes(nbytes))
    return tmp_path / "x.hdr"


BASE = "ENVI\nsamples = 4\nlines = 3\nbands = 2\nheader offset = 0\ndata type = 2\ninterleave = bsq\n"


def test_truncated_file_names_file_and_sizes(tmp_path: Path) -> None:
    hdr = write_raw(tmp_path, BASE + "wavelength = {500, 600}\n", 47)
    with pytest.raises(TruncatedFileError, match=r"x\.img.*47 bytes.*promises 48"):
        read_envi(hdr)


def test_unknown_data_type(tmp_path: Path) -> None:
    hdr = write_raw(tmp_path, BASE.replace("data type = 2", "data type = 6") + "wavelength = {1, 2}\n", 192)
    with pytest.raises(UnsupportedDataTypeError, match=r"x\.hdr.*data type 6"):
        read_envi(hdr)
    with pytest.raises(UnsupportedDataTypeError, match="complex64"):
        write_envi(tmp_path / "y.img", tiny_cube("float32"), dtype="complex64")


def test_missing_wavelengths_error_and_supplied(tmp_path: Path) -> None:
    hdr = write_raw(tmp_path, BASE, 48)
    with pytest.raises(WavelengthError, match=r"x\.hdr.*no 'wavelength'"):
        read_envi(hdr)
    cube = read_envi(hdr, wavelengths=np.array([500.0, 600.0]))
    assert cube.data.shape == (2, 3, 4)
    np.testing.assert_array_equal(cube.wavelengths, [500.0, 600.0])


def test_micrometre_units_and_multiline_lists(tmp_path: Path) -> None:
    text = BASE + "wavelength units = Micrometers\nwavelength = {\n 0.5,\n 0.6}\nfwhm = {0.01, 0.01}\n"
    text += "band names = {a, b}\ndescription = {two = bands}\n"
    hdr = write_raw(tmp_path, text, 48)
    h = parse_header(hdr)
    np.testing.assert_allclose(h.wavelengths, [500.0, 600.0])
    np.testing.assert_allclose(h.fwhm, [10.0, 10.0])
    assert h.band_names == ["a", "b"] and h.description == "two = bands"


def test_header_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="lacks required key 'lines'"):
        read_envi(write_raw(tmp_path, BASE.replace("lines = 3\n", ""), 48))
    with pytest.raises(WavelengthError, match="3 wavelength values for 2 bands"):
        read_envi(write_raw(tmp_path, BASE + "wavelength = {1, 2, 3}\n", 48))
    (tmp_path / "x.img").unlink()
    with pytest.raises(DatasetError, match="No raw data file"):
        read_envi(tmp_path / "x.hdr")


def test_write_rejects_out_of_range_integers(tmp_path: Path) -> None:
    cube = Cube(np.full((1, 2, 2), 300.0, dtype=np.float32), [500.0])
    with pytest.raises(DatasetError, match="do not fit uint8"):
        write_envi(tmp_path / "c.img", cube, dtype="uint8")
    assert not list(tmp_path.iterdir())
