"""ENVI raster files: a text ``.hdr`` beside a headerless binary file.

Reading supports interleaves bsq/bil/bip, data types 1, 2, 3, 4, 5 and 12 and both byte orders. Header keys
understood: samples, lines, bands, header offset, data type, interleave, byte order, wavelength, fwhm,
wavelength units, data ignore value, bbl, band names, description. Other keys are kept verbatim in
``EnviHeader.extra``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spectra_distill.data.atomic import atomic_path
from spectra_distill.data.cube import Cube
from spectra_distill.errors import (
    DatasetError,
    TruncatedFileError,
    UnsupportedDataTypeError,
    WavelengthError,
)

#: ENVI ``data type`` code -> numpy dtype (byte order applied separately).
ENVI_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.uint8),
    2: np.dtype(np.int16),
    3: np.dtype(np.int32),
    4: np.dtype(np.float32),
    5: np.dtype(np.float64),
    12: np.dtype(np.uint16),
}
INTERLEAVES = ("bsq", "bil", "bip")
# Raw-file extensions tried, in order, when given a header path.
_RAW_SUFFIXES = ("", ".img", ".dat", ".raw", ".bsq", ".bil", ".bip", ".sli")
# Micrometres written in the ways ENVI files in the wild do.
_MICRONS = {"micrometers", "micrometer", "microns", "micron", "um", "µm", "μm"}


@dataclass(frozen=True)
class EnviHeader:
    """The parsed keys of an ENVI header. Wavelengths and fwhm are already in nm."""

    samples: int
    lines: int
    bands: int
    data_type: int
    interleave: str = "bsq"
    byte_order: int = 0
    header_offset: int = 0
    wavelengths: np.ndarray | None = None
    fwhm: np.ndarray | None = None
    data_ignore_value: float | None = None
    bbl: np.ndarray | None = None
    band_names: list[str] | None = None
    description: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def dtype(self) -> np.dtype:
        return ENVI_DTYPES[self.data_type].newbyteorder("<" if self.byte_order == 0 else ">")

    @property
    def expected_bytes(self) -> int:
        return (
            self.header_offset + self.samples * self.lines * self.bands * ENVI_DTYPES[self.data_type].itemsize
        )


def envi_paths(path: str | Path) -> tuple[Path, Path]:
    """Return ``(header, raw)`` for a path to either file.

    Raises:
        DatasetError: the header or the raw file does not exist.
    """
    p = Path(path)
    if p.suffix.lower() == ".hdr":
        hdr = p
        stem = p.with_suffix("")
        raws = [stem.with_name(stem.name + s) for s in _RAW_SUFFIXES]
        raw = next((r for r in raws if r.is_file()), None)
        if raw is None:
            raise DatasetError(
                f"No raw data file beside the header (tried {', '.join(_RAW_SUFFIXES[1:])})", p
            )
    else:
        raw = p
        candidates = [p.with_name(p.name + ".hdr"), p.with_suffix(".hdr")]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DatasetError("No ENVI header (.hdr) beside the raw file", p)
        hdr = found
    if not hdr.is_file():
        raise DatasetError("ENVI header not found", hdr)
    if not raw.is_file():
        raise DatasetError("ENVI raw data file not found", raw)
    return hdr, raw


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in value.strip().lstrip("{").rstrip("}").split(",") if v.strip()]


def _floats(value: str, key: str, path: Path) -> np.ndarray:
    try:
        return np.array([float(v) for v in _split_list(value)], dtype=np.float64)
    except ValueError as exc:
        raise DatasetError(f"Header key '{key}' holds a non-number: {exc}", path) from exc


def parse_header(path: str | Path) -> EnviHeader:
    """Parse an ENVI ``.hdr`` file.

    Raises:
        DatasetError: not an ENVI header, or a required key is missing or malformed.
        UnsupportedDataTypeError: ``data type`` is not one of 1, 2, 3, 4, 5, 12.
        WavelengthError: wavelength or fwhm lists of the wrong length.
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8", errors="replace")
    if not text.lstrip().upper().startswith("ENVI"):
        raise DatasetError("Not an ENVI header: first line is not 'ENVI'", p)
    raw: dict[str, str] = {}
    # Values in braces may span lines; join them before splitting on '='.
    for m in re.finditer(r"^\s*([^=\n{}]+?)\s*=\s*(\{[^}]*\}|[^\n]*)", text, flags=re.MULTILINE):
        raw[m.group(1).strip().lower()] = m.group(2).strip()

    def need_int(key: str) -> int:
        if key not in raw:
            raise DatasetError(f"ENVI header lacks required key '{key}'", p)
        try:
            return int(raw[key])
        except ValueError as exc:
            raise DatasetError(f"Header key '{key}' = {raw[key]!r} is not an integer", p) from exc

    samples, lines, bands = need_int("samples"), need_int("lines"), need_int("bands")
    data_type = need_int("data type")
    if data_type not in ENVI_DTYPES:
        raise UnsupportedDataTypeError(
            f"ENVI data type {data_type} is not supported; supported: "
            + ", ".join(f"{k} ({v.name})" for k, v in ENVI_DTYPES.items()),
            p,
        )
    interleave = raw.get("interleave", "bsq").strip().lower()
    if interleave not in INTERLEAVES:
        raise DatasetError(f"Unknown interleave {interleave!r}; expected one of {', '.join(INTERLEAVES)}", p)
    byte_order = int(raw.get("byte order", "0"))
    if byte_order not in (0, 1):
        raise DatasetError(f"byte order must be 0 or 1; got {byte_order}", p)
    header_offset = int(raw.get("header offset", "0"))

    units = raw.get("wavelength units", "").strip().lower()
    wl = _floats(raw["wavelength"], "wavelength", p) if "wavelength" in raw else None
    fw = _floats(raw["fwhm"], "fwhm", p) if "fwhm" in raw else None
    # ENVI files without units but with values below 30 are in micrometres in practice.
    to_nm = (
        1000.0 if units in _MICRONS or (not units and wl is not None and wl.size and wl.max() < 30) else 1.0
    )
    for name, arr in (("wavelength", wl), ("fwhm", fw)):
        if arr is not None and arr.size != bands:
            raise WavelengthError(f"Header lists {arr.size} {name} values for {bands} bands", p)
    ignore = raw.get("data ignore value")
    bbl = _floats(raw["bbl"], "bbl", p) if "bbl" in raw else None
    if bbl is not None and bbl.size != bands:
        raise DatasetError(f"Header lists {bbl.size} bbl values for {bands} bands", p)
    names = _split_list(raw["band names"]) if "band names" in raw else None
    description = raw["description"].strip().lstrip("{").rstrip("}").strip() if "description" in raw else None
    known = {
        "samples", "lines", "bands", "data type", "interleave", "byte order", "header offset", "wavelength",
        "fwhm", "wavelength units", "data ignore value", "bbl", "band names", "description",
    }  # fmt: skip
    return EnviHeader(
        samples=samples,
        lines=lines,
        bands=bands,
        data_type=data_type,
        interleave=interleave,
        byte_order=byte_order,
        header_offset=header_offset,
        wavelengths=None if wl is None else wl * to_nm,
        fwhm=None if fw is None else fw * to_nm,
        data_ignore_value=None if ignore is None else float(ignore),
        bbl=None if bbl is None else bbl.astype(bool),
        band_names=names,
        description=description,
        extra={k: v for k, v in raw.items() if k not in known},
    )


def read_envi_array(path: str | Path) -> tuple[np.ndarray, EnviHeader]:
    """Read the raw samples as stored, reordered to (bands, lines, samples), in native byte order.

    Raises:
        TruncatedFileError: the raw file is shorter than the header promises (names expected and actual
            bytes).
    """
    hdr_path, raw_path = envi_paths(path)
    header = parse_header(hdr_path)
    actual = raw_path.stat().st_size
    if actual < header.expected_bytes:
        raise TruncatedFileError(
            f"Raw file holds {actual} bytes; header {hdr_path.name} promises {header.expected_bytes} "
            f"({header.bands} bands x {header.lines} lines x {header.samples} samples x "
            f"{ENVI_DTYPES[header.data_type].itemsize} bytes + {header.header_offset} offset)",
            raw_path,
        )
    count = header.samples * header.lines * header.bands
    flat = np.fromfile(raw_path, dtype=header.dtype, count=count, offset=header.header_offset)
    b, h, w = header.bands, header.lines, header.samples
    if header.interleave == "bsq":
        arr = flat.reshape(b, h, w)
    elif header.interleave == "bil":
        arr = flat.reshape(h, b, w).transpose(1, 0, 2)
    else:
        arr = flat.reshape(h, w, b).transpose(2, 0, 1)
    return np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("="), copy=False), header


def read_envi(
    path: str | Path,
    value_scale: float = 1.0,
    wavelengths: np.ndarray | None = None,
    fwhm: np.ndarray | None = None,
) -> Cube:
    """Read an ENVI file (path to the ``.hdr`` or to the raw file) as a Cube.

    Args:
        path: The header or the raw file.
        value_scale: Raw values are divided by this to give 0..1 physical units.
        wavelengths: (bands,) nm; used when the header has none (a descriptor supplies them). The header
            wins when it has them.
        fwhm: (bands,) nm; same rule as ``wavelengths``.

    Returns:
        Cube with float32 data (bands, H, W) / value_scale. ``valid`` is False where any good band equals
        the header's ``data ignore value``; ``band_mask`` comes from ``bbl``; bad bands and invalid pixels
        are zeroed.

    Raises:
        WavelengthError: neither the header nor the caller gives wavelengths.
        TruncatedFileError, UnsupportedDataTypeError, DatasetError: see ``read_envi_array``.
    """
    arr, header = read_envi_array(path)
    hdr_path, raw_path = envi_paths(path)
    wl = header.wavelengths if header.wavelengths is not None else wavelengths
    if wl is None:
        raise WavelengthError(
            "ENVI header has no 'wavelength' key and no wavelengths were supplied (give them in the "
            "dataset descriptor's wavelengths section)",
            hdr_path,
        )
    fw = header.fwhm if header.fwhm is not None else fwhm
    band_mask = header.bbl
    good = np.ones(header.bands, dtype=bool) if band_mask is None else band_mask
    valid = None
    if header.data_ignore_value is not None:
        valid = ~np.any(arr[good] == header.data_ignore_value, axis=0)
    return cube_from_raw(
        arr,
        wavelengths=wl,
        fwhm=fw,
        value_scale=value_scale,
        valid=valid,
        band_mask=band_mask,
        provenance={"path": str(raw_path), "header": str(hdr_path), "band_names": header.band_names},
    )


def cube_from_raw(
    arr: np.ndarray,
    wavelengths: np.ndarray,
    fwhm: np.ndarray | None,
    value_scale: float,
    valid: np.ndarray | None,
    band_mask: np.ndarray | None,
    provenance: dict,
) -> Cube:
    """Scale raw (bands, H, W) samples to float32 0..1 units and zero bad bands and invalid pixels."""
    data = arr.astype(np.float32) / np.float32(value_scale)
    if band_mask is not None:
        data[~band_mask] = 0.0
    if valid is not None:
        data[:, ~valid] = 0.0
    return Cube(data, wavelengths, fwhm=fwhm, valid=valid, band_mask=band_mask, provenance=provenance)


def _fmt_list(values: np.ndarray | list, fmt: str = "{:.6g}") -> str:
    return "{ " + ", ".join(fmt.format(v) for v in values) + " }"


def write_envi(
    path: str | Path,
    cube: Cube,
    dtype: str | np.dtype = "float32",
    interleave: str = "bsq",
    byte_order: int = 0,
    value_scale: float = 1.0,
    nodata: float | None = None,
    description: str | None = None,
) -> tuple[Path, Path]:
    """Write a Cube as ENVI (``<stem>.hdr`` + raw file), each file replaced atomically.

    Args:
        path: The raw file path (e.g. ``scene.img``) or the header path (raw file then gets ``.img``).
        cube: The cube; its data is multiplied by ``value_scale`` before conversion.
        dtype: One of uint8, int16, int32, float32, float64, uint16.
        interleave: bsq, bil or bip.
        byte_order: 0 little-endian, 1 big-endian.
        value_scale: Stored value = data * value_scale (integer types are rounded).
        nodata: Written to pixels where ``cube.valid`` is False and as ``data ignore value``.
        description: Header description.

    Returns:
        ``(header_path, raw_path)``.

    Raises:
        UnsupportedDataTypeError: ``dtype`` is not an ENVI type this module writes.
        DatasetError: bad interleave or byte order, or scaled values outside the integer type's range.
    """
    np_dtype = np.dtype(dtype)
    codes = {v: k for k, v in ENVI_DTYPES.items()}
    if np_dtype not in codes:
        raise UnsupportedDataTypeError(
            f"Cannot write dtype {np_dtype.name}; "
            f"supported: {', '.join(d.name for d in ENVI_DTYPES.values())}",
            path,
        )
    if interleave not in INTERLEAVES:
        raise DatasetError(
            f"Unknown interleave {interleave!r}; expected one of {', '.join(INTERLEAVES)}", path
        )
    if byte_order not in (0, 1):
        raise DatasetError(f"byte_order must be 0 or 1; got {byte_order}", path)
    p = Path(path)
    raw_path = p.with_suffix(".img") if p.suffix.lower() == ".hdr" else p
    hdr_path = raw_path.with_suffix(".hdr")

    values = cube.data.astype(np.float64) * value_scale
    if cube.valid is not None and nodata is not None:
        values[:, ~cube.valid] = nodata
    if np.issubdtype(np_dtype, np.integer):
        values = np.rint(values)
        info = np.iinfo(np_dtype)
        if values.size and (values.min() < info.min or values.max() > info.max):
            raise DatasetError(
                f"Scaled values {values.min():g}..{values.max():g} do not fit {np_dtype.name} "
                f"({info.min}..{info.max}); choose another dtype or value_scale",
                raw_path,
            )
    stored = values.astype(np_dtype.newbyteorder("<" if byte_order == 0 else ">"))
    order = {"bsq": (0, 1, 2), "bil": (1, 0, 2), "bip": (1, 2, 0)}[interleave]

    lines = [
        "ENVI",
        f"description = {{{description or 'written by spectra_distill'}}}",
        f"samples = {cube.width}",
        f"lines = {cube.height}",
        f"bands = {cube.bands}",
        "header offset = 0",
        "file type = ENVI Standard",
        f"data type = {codes[np_dtype]}",
        f"interleave = {interleave}",
        f"byte order = {byte_order}",
        "wavelength units = Nanometers",
        f"wavelength = {_fmt_list(cube.wavelengths, '{:.10g}')}",
    ]
    if cube.fwhm is not None:
        lines.append(f"fwhm = {_fmt_list(cube.fwhm, '{:.10g}')}")
    if cube.band_mask is not None:
        lines.append(f"bbl = {_fmt_list(cube.band_mask.astype(int), '{:d}')}")
    if nodata is not None:
        lines.append(f"data ignore value = {nodata:g}")

    with atomic_path(raw_path) as tmp:
        np.ascontiguousarray(stored.transpose(order)).tofile(tmp)
    with atomic_path(hdr_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return hdr_path, raw_path
