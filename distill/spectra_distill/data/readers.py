"""Readers (and the npy writer) for the non-ENVI cube formats: .npy, .mat, PNG band stacks, GeoTIFF.

Every reader returns the raw samples as (bands, H, W) in their stored dtype; scaling to 0..1 and masks
are the caller's job (see ``spectra_distill.data.scenes``), so exact comparisons between formats stay
possible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spectra_distill.data.atomic import atomic_path
from spectra_distill.errors import BandCountError, DatasetError, TruncatedFileError

LAYOUTS = ("hwc", "chw")


def to_chw(arr: np.ndarray, layout: str, path: str | Path | None = None) -> np.ndarray:
    """Reorder a 3-D array stored as ``layout`` ('hwc' or 'chw') to (bands, H, W)."""
    if layout not in LAYOUTS:
        raise DatasetError(f"Unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}", path)
    if arr.ndim != 3:
        raise BandCountError(f"Expected a 3-D cube stored as {layout}; got shape {arr.shape}", path)
    return arr.transpose(2, 0, 1) if layout == "hwc" else arr


def read_npy_cube(path: str | Path, layout: str) -> np.ndarray:
    """Read a .npy cube stored as (H, W, bands) ('hwc') or (bands, H, W) ('chw'); returns (bands, H, W).

    Raises:
        TruncatedFileError: the file is shorter than its .npy header promises.
        DatasetError: not a .npy file.
        BandCountError: not 3-D.
    """
    p = Path(path)
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        # numpy reports a short file as a failed mmap/reshape; make it the typed error.
        if "mmap length is greater than file size" in str(exc) or "cannot reshape" in str(exc):
            raise TruncatedFileError(f"File is shorter than its .npy header promises ({exc})", p) from exc
        raise DatasetError(f"Not a readable .npy file: {exc}", p) from exc
    except OSError as exc:
        raise DatasetError(f"Cannot read .npy file: {exc}", p) from exc
    return np.ascontiguousarray(to_chw(arr, layout, p))


def write_npy_cube(path: str | Path, data: np.ndarray, layout: str) -> Path:
    """Write a (bands, H, W) array as .npy in ``layout`` ('hwc' or 'chw'), replacing the file atomically."""
    if layout not in LAYOUTS:
        raise DatasetError(f"Unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}", path)
    if data.ndim != 3:
        raise BandCountError(f"Expected (bands, H, W); got shape {data.shape}", path)
    out = data.transpose(1, 2, 0) if layout == "hwc" else data
    target = Path(path)
    with atomic_path(target) as tmp, tmp.open("wb") as fh:
        np.save(fh, np.ascontiguousarray(out))
    return target


def read_mat_array(path: str | Path, variable: str) -> np.ndarray:
    """Read one variable of a MATLAB v5 .mat file (scipy.io.loadmat) as stored.

    Raises:
        DatasetError: the file cannot be read or lacks ``variable`` (message lists the variables present).
    """
    import scipy.io

    p = Path(path)
    try:
        mat = scipy.io.loadmat(p, variable_names=[variable])
    except (ValueError, OSError, NotImplementedError) as exc:
        raise DatasetError(f"Cannot read MATLAB file: {exc}", p) from exc
    if variable not in mat:
        names = [n for n, *_ in scipy.io.whosmat(p)]
        raise DatasetError(f"MATLAB file has no variable {variable!r}; it has {', '.join(names)}", p)
    return np.asarray(mat[variable])


def read_png_stack(paths: list[Path]) -> np.ndarray:
    """Read one single-channel (8- or 16-bit) PNG per band, in the given order, as (bands, H, W).

    Raises:
        DatasetError: no files, a file is not single-channel, or sizes differ (names the file).
    """
    from PIL import Image

    if not paths:
        raise DatasetError("PNG band stack has no files")
    bands = []
    for p in paths:
        try:
            with Image.open(p) as im:
                arr = np.asarray(im)
        except OSError as exc:
            raise DatasetError(f"Cannot decode PNG: {exc}", p) from exc
        if arr.ndim != 2:
            raise BandCountError(f"Expected a single-channel band image; got shape {arr.shape}", p)
        if bands and arr.shape != bands[0].shape:
            raise BandCountError(f"Band image is {arr.shape}; {paths[0].name} is {bands[0].shape}", p)
        bands.append(arr)
    return np.stack(bands)


def read_geotiff(path: str | Path) -> tuple[np.ndarray, float | None]:
    """Read a multi-band GeoTIFF (e.g. an EnMAP tile) as (bands, H, W) plus its GDAL no-data value.

    Raises:
        DatasetError: the file cannot be decoded or is not 2-D/3-D.
    """
    import tifffile

    p = Path(path)
    try:
        with tifffile.TiffFile(p) as tif:
            page = tif.pages[0]
            nodata_tag = page.tags.get(42113)  # GDAL_NODATA
            arr = tif.asarray()
            planar_separate = page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
    except (tifffile.TiffFileError, OSError, ValueError) as exc:
        raise DatasetError(f"Cannot read GeoTIFF: {exc}", p) from exc
    if arr.ndim == 2:
        arr = arr[None]
    elif arr.ndim == 3 and not planar_separate:
        arr = arr.transpose(2, 0, 1)
    elif arr.ndim != 3:
        raise BandCountError(f"Expected a 2-D or 3-D raster; got shape {arr.shape}", p)
    nodata = None
    if nodata_tag is not None:
        try:
            nodata = float(str(nodata_tag.value).strip().rstrip("\x00"))
        except ValueError:
            nodata = None
    return np.ascontiguousarray(arr), nodata
