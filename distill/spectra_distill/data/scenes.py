"""Turn described scenes into Cubes: float32 (bands, H, W) in 0..1 physical units with masks."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from spectra_distill.data.cube import Cube
from spectra_distill.data.descriptors import (
    DatasetDescriptor,
    SceneEntry,
    csv_float_column,
    default_data_root,
    discover,
    is_auto_described,
)
from spectra_distill.data.envi import cube_from_raw, read_envi_array
from spectra_distill.data.readers import (
    read_geotiff,
    read_mat_array,
    read_npy_cube,
    read_png_stack,
    to_chw,
)
from spectra_distill.errors import BandCountError, DatasetError, WavelengthError

logger = logging.getLogger(__name__)


def _match(folder: Path, patterns: tuple[str, ...], what: str, many: bool = False) -> list[Path]:
    hits = sorted({p for pat in patterns for p in folder.glob(pat) if p.is_file()})
    if not hits:
        raise DatasetError(f"No file matches {what} glob(s) {list(patterns)}", folder)
    if not many and len(hits) > 1:
        raise DatasetError(f"{what} glob(s) {list(patterns)} match {len(hits)} files; expected one", folder)
    return hits


def auto_value_scale(raw: np.ndarray, good: np.ndarray, valid: np.ndarray) -> float:
    """99.9th percentile of the good bands' valid pixels, rounded up to two significant digits."""
    sample = raw[good][:, valid].astype(np.float64)
    p = float(np.percentile(sample, 99.9)) if sample.size else 1.0
    if p <= 0:
        return 1.0
    digits = 10 ** (math.floor(math.log10(p)) - 1)
    return float(math.ceil(p / digits) * digits)


def _read_raw(d: DatasetDescriptor, scene: SceneEntry, folder: Path) -> tuple[np.ndarray, Path, dict]:
    fmt = scene.format or d.format
    extra: dict = {}
    if fmt == "png_stack":
        files = _match(folder, scene.files, f"scene '{scene.name}'", many=True)
        return read_png_stack(files), files[0].parent, {"files": [f.name for f in files]}
    path = _match(folder, scene.files, f"scene '{scene.name}'")[0]
    if fmt == "npy":
        return read_npy_cube(path, d.layout), path, extra
    if fmt == "mat":
        if scene.variable is None:
            raise DatasetError(f"Scene '{scene.name}' has format mat but no 'variable'", d.source)
        return to_chw(read_mat_array(path, scene.variable), d.layout, path), path, extra
    if fmt == "envi":
        arr, header = read_envi_array(path)
        extra["envi_header"] = header
        return arr, path, extra
    if fmt == "geotiff":
        arr, nodata = read_geotiff(path)
        extra["geotiff_nodata"] = nodata
        return arr, path, extra
    raise DatasetError(f"Scene '{scene.name}': format {fmt!r} cannot hold a scene", d.source)


def _wavelengths(
    d: DatasetDescriptor, scene: SceneEntry, folder: Path, bands: int, extra: dict
) -> tuple[np.ndarray, np.ndarray | None]:
    src = scene.wavelengths or d.wavelengths
    assert src is not None  # parse_descriptor guarantees it for scenes
    fwhm = None
    if src.source == "csv":
        if not src.file or not src.column:
            raise DatasetError("wavelengths.source csv needs 'file' and 'column'", d.source)
        wl = csv_float_column(folder / src.file, src.column)
        if src.fwhm_column:
            fwhm = csv_float_column(folder / src.file, src.fwhm_column)
    elif src.source == "linear":
        if src.start is None or src.step is None:
            raise DatasetError("wavelengths.source linear needs 'start' and 'step'", d.source)
        wl = src.start + src.step * np.arange(bands, dtype=np.float64)
    else:
        header = extra.get("envi_header")
        if header is None or header.wavelengths is None:
            raise WavelengthError(
                "Descriptor says wavelengths come from the ENVI header, which has none", d.source
            )
        wl, fwhm = header.wavelengths, header.fwhm
    if wl.size != bands:
        raise WavelengthError(f"{wl.size} wavelengths for a {bands}-band cube", folder / (src.file or ""))
    return wl, fwhm


def load_scene_from(d: DatasetDescriptor, scene: SceneEntry, root: Path) -> Cube:
    """Load one scene of a descriptor.

    Returns:
        Cube with data float32 (bands, H, W) = raw / value_scale; ``valid`` (H, W) False at nodata or
        outside the coverage mask; ``band_mask`` False for bad bands; bad bands and invalid pixels are 0.
        Provenance: dataset, scene, path, sensor, value_scale, approx_wavelengths, partial.

    Raises:
        DatasetError, WavelengthError, TruncatedFileError, BandCountError: the files disagree with the
            descriptor (each names the file).
    """
    folder = root / d.folder
    raw, path, extra = _read_raw(d, scene, folder)
    bands = raw.shape[0]
    wl, fwhm = _wavelengths(d, scene, folder, bands, extra)
    header = extra.get("envi_header")
    good = np.ones(bands, dtype=bool)
    if d.bad_bands is not None:
        good = csv_float_column(folder / d.bad_bands.file, d.bad_bands.column) > 0.5
        if good.size != bands:
            raise BandCountError(f"{good.size} bad-band flags for {bands} bands", folder / d.bad_bands.file)
    elif header is not None and header.bbl is not None:
        good = header.bbl
    nodata = d.nodata
    if nodata is None and header is not None:
        nodata = header.data_ignore_value
    if nodata is None:
        nodata = extra.get("geotiff_nodata")
    valid = np.ones(raw.shape[1:], dtype=bool)
    if nodata is not None:
        valid &= ~np.any(raw[good] == nodata, axis=0)
    mask_glob = scene.valid_mask or d.valid_mask
    if mask_glob is not None:
        mask_path = _match(folder, (mask_glob,), f"valid mask of '{scene.name}'")[0]
        cover = np.load(mask_path).astype(bool)
        if cover.shape != valid.shape:
            raise BandCountError(f"Valid mask is {cover.shape}; the scene is {valid.shape}", mask_path)
        valid &= cover
    value_scale = d.value_scale if scene.value_scale is None else scene.value_scale
    scale = auto_value_scale(raw, good, valid) if value_scale == "auto" else float(value_scale)
    wl_source = scene.wavelengths or d.wavelengths
    prov = {
        "dataset": d.folder,
        "scene": scene.name,
        "path": str(path),
        "sensor": scene.sensor or d.sensor,
        "value_scale": scale,
        "approx_wavelengths": bool(wl_source and wl_source.approx),
        "partial": d.partial,
    }
    if "files" in extra:
        prov["files"] = extra["files"]
    if d.msi is not None and d.msi.scene == scene.name:
        prov["msi"] = str(_match(folder, (d.msi.files,), f"MSI of '{scene.name}'")[0])
    return cube_from_raw(
        raw, wavelengths=wl, fwhm=fwhm, value_scale=scale, valid=valid,
        band_mask=None if good.all() else good, provenance=prov,
    )  # fmt: skip


def scene_index(
    root: str | Path | None = None, descriptor_dir: str | Path | None = None
) -> dict[str, tuple[DatasetDescriptor, SceneEntry]]:
    """Every scene name found under ``root`` -> (descriptor, scene entry).

    Raises:
        DatasetError: two descriptors declare the same scene name.
    """
    out: dict[str, tuple[DatasetDescriptor, SceneEntry]] = {}
    for d in discover(root, descriptor_dir):
        if d.kind != "scene":
            continue
        for s in d.scenes:
            if s.name in out:
                raise DatasetError(
                    f"Scene name {s.name!r} declared by both {out[s.name][0].folder} and {d.folder}", d.source
                )
            out[s.name] = (d, s)
    return out


def load_scenes(
    root: str | Path | None = None,
    names: list[str] | None = None,
    descriptor_dir: str | Path | None = None,
) -> list[Cube]:
    """Load scenes as Cubes (see ``load_scene_from`` for what each Cube holds).

    Args:
        root: Data root; defaults to ``default_data_root()``.
        names: Scene names or dataset folder names; None loads every scene.
        descriptor_dir: Extra descriptor YAMLs.

    Raises:
        DatasetError: a name matches no scene or dataset (the message lists the known ones).
    """
    base = Path(root) if root is not None else default_data_root()
    index = scene_index(base, descriptor_dir)
    if names is None:
        chosen = list(index)
    else:
        chosen = []
        folders = {d.folder for d, _ in index.values()}
        for n in names:
            if n in index:
                chosen.append(n)
            elif n in folders:
                chosen.extend(s for s, (d, _) in index.items() if d.folder == n)
            else:
                raise DatasetError(
                    f"Unknown scene or dataset {n!r}; scenes: {', '.join(index)}; "
                    f"datasets: {', '.join(sorted(folders))}",
                    base,
                )
    chosen = list(dict.fromkeys(chosen))
    for d in {index[n][0].folder: index[n][0] for n in chosen if is_auto_described(index[n][0])}.values():
        logger.warning(
            "%s: no descriptor; auto-described as %d scene(s), value scale chosen from the data "
            "(add a descriptor YAML to pin it)",
            base / d.folder,
            len(d.scenes),
        )
    return [load_scene_from(*index[n], base) for n in chosen]


def load_msi(scene: str, root: str | Path | None = None, descriptor_dir: str | Path | None = None) -> Cube:
    """Load the real HR-MSI registered to ``scene`` (Houston's RGB), as a Cube in 0..1.

    ``valid`` is False where the mosaic has a gap (every band 0 when the descriptor says so).

    Raises:
        DatasetError: the scene is unknown or has no real MSI.
    """
    base = Path(root) if root is not None else default_data_root()
    index = scene_index(base, descriptor_dir)
    if scene not in index:
        raise DatasetError(f"Unknown scene {scene!r}; scenes: {', '.join(index)}", base)
    d, _ = index[scene]
    if d.msi is None or d.msi.scene != scene:
        with_msi = [s for s, (dd, _) in index.items() if dd.msi is not None and dd.msi.scene == s]
        raise DatasetError(
            f"Scene {scene!r} has no real MSI; scenes with one: {', '.join(with_msi)}", d.source
        )
    m = d.msi
    path = _match(base / d.folder, (m.files,), f"MSI of '{scene}'")[0]
    raw = read_npy_cube(path, m.layout)
    valid = np.any(raw != 0, axis=0) if m.nodata_all_zero else np.ones(raw.shape[1:], dtype=bool)
    if len(m.wavelengths) != raw.shape[0]:
        raise WavelengthError(
            f"Descriptor gives {len(m.wavelengths)} MSI wavelengths for {raw.shape[0]} bands", path
        )
    prov = {
        "dataset": d.folder, "scene": scene, "path": str(path), "sensor": f"{d.sensor} companion MSI",
        "value_scale": m.value_scale, "approx_wavelengths": True, "band_names": list(m.band_names),
    }  # fmt: skip
    return cube_from_raw(
        raw, wavelengths=np.array(m.wavelengths), fwhm=None if m.fwhm is None else np.array(m.fwhm),
        value_scale=m.value_scale, valid=valid, band_mask=None, provenance=prov,
    )  # fmt: skip
