"""Dataset descriptors: one YAML per data folder saying how its files become Cubes.

The packaged descriptors live in ``spectra_distill/datasets/<folder>.yaml``; an extra directory can add or
override descriptors (same ``folder`` wins from the extra directory). Scene files are named by glob
patterns, never listed in code.
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from spectra_distill.errors import DatasetError

logger = logging.getLogger(__name__)

KINDS = ("scene", "library", "srf", "wavelength_table")
SOURCE_FOLDERS = ("natural_images", "ms_tiles")
"""Raw material of `data.synthetic` (photographs, Sentinel-2 patches), not scenes: discovery skips them."""
FORMATS = ("npy", "envi", "png_stack", "mat", "geotiff", "csv")
WAVELENGTH_SOURCES = ("csv", "envi", "linear")


@dataclass(frozen=True)
class WavelengthSource:
    """Where band centres (nm) come from.

    Attributes:
        source: 'csv' (``file`` + ``column``), 'envi' (the header's wavelength key) or 'linear'
            (``start`` + ``step`` * band index).
        file: CSV file name inside the dataset folder.
        column: CSV column with centres in nm.
        fwhm_column: CSV column with FWHM in nm, if any.
        start: First centre (nm) for 'linear'.
        step: Spacing (nm) for 'linear'.
        approx: True when the centres are approximate (the source did not carry them).
    """

    source: str
    file: str | None = None
    column: str | None = None
    fwhm_column: str | None = None
    start: float | None = None
    step: float | None = None
    approx: bool = False


@dataclass(frozen=True)
class BadBandSource:
    """A CSV column flagging good bands (1 = good, 0 = bad), e.g. EnMAP's ``bbl_good``."""

    file: str
    column: str


@dataclass(frozen=True)
class SceneEntry:
    """One scene of a dataset folder.

    Attributes:
        name: Scene name, unique over all descriptors (used by ``load_scenes(names=...)`` and splits).
        files: Glob patterns relative to the folder. A png_stack takes every match (sorted); other formats
            need exactly one match.
        format: Overrides the descriptor's format for this scene.
        variable: MATLAB variable for format 'mat'.
        valid_mask: Glob of a (H, W) bool .npy marking covered pixels.
        wavelengths: Overrides the descriptor's wavelength source, for folders whose scenes each have their
            own band set (the ABU AVIRIS scenes each lost different channels).
        value_scale: Overrides the descriptor's value_scale (scenes of one folder in different units).
        sensor: Overrides the descriptor's sensor (ABU mixes AVIRIS and ROSIS).
        notes: Facts about this scene (crop, resampling).
    """

    name: str
    files: tuple[str, ...]
    format: str | None = None
    variable: str | None = None
    valid_mask: str | None = None
    wavelengths: WavelengthSource | None = None
    value_scale: float | str | None = None
    sensor: str | None = None
    notes: str = ""


@dataclass(frozen=True)
class CompanionMSI:
    """A real high-resolution multispectral image registered to a scene (Houston's RGB).

    Attributes:
        scene: The scene it belongs to.
        files: Glob of the (H, W, bands) or (bands, H, W) .npy.
        layout: 'hwc' or 'chw'.
        value_scale: Raw values are divided by this.
        nodata_all_zero: Pixels that are 0 in every band are gaps in the mosaic (valid False).
        wavelengths: Approximate band centres in nm.
        fwhm: Approximate band widths in nm.
        band_names: Names of the bands (e.g. R, G, B).
    """

    scene: str
    files: str
    layout: str = "hwc"
    value_scale: float = 255.0
    nodata_all_zero: bool = True
    wavelengths: tuple[float, ...] = ()
    fwhm: tuple[float, ...] | None = None
    band_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetDescriptor:
    """How one shared data folder becomes Cubes (or spectral tables).

    Attributes:
        folder: Sub-folder of the data root.
        kind: 'scene', 'library', 'srf' or 'wavelength_table'.
        sensor: Instrument name.
        format: npy | envi | png_stack | mat | geotiff (scenes) or csv (tables).
        layout: 'hwc' or 'chw' for npy/mat arrays.
        value_scale: Divide raw values by this to get 0..1 physical units; 'auto' (generic descriptors
            only) uses the 99.9th percentile rounded up to two significant digits.
        nodata: Raw value marking missing pixels, or None.
        wavelengths: Wavelength source (scenes).
        bad_bands: Bad-band flags, or None.
        valid_mask: Glob of a coverage mask used by every scene (scene entries may override).
        scenes: The scenes.
        files: Glob patterns of the tables (non-scene kinds).
        msi: A real HR-MSI companion, or None.
        partial: True when the folder holds an incomplete copy of its source (missing bands).
        notes: Facts a user should know (approximate wavelengths, value scale choice).
        source: The YAML this came from; None for an auto-generated descriptor.
    """

    folder: str
    kind: str
    sensor: str = ""
    format: str = "npy"
    layout: str = "hwc"
    value_scale: float | str = 1.0
    nodata: float | None = None
    wavelengths: WavelengthSource | None = None
    bad_bands: BadBandSource | None = None
    valid_mask: str | None = None
    scenes: tuple[SceneEntry, ...] = ()
    files: tuple[str, ...] = ()
    msi: CompanionMSI | None = None
    partial: bool = False
    notes: str = ""
    source: Path | None = field(default=None, compare=False)


def default_data_root() -> Path:
    """The shared data folder: ``$SPECTRA_DATA`` if set, else ``<repo>/../shared/data``.

    ``<repo>`` is the parent of ``distill/``, found from this file's location (the package is installed
    editable), so the default does not depend on the working directory.
    """
    env = os.environ.get("SPECTRA_DATA")
    if env:
        return Path(env).expanduser().resolve()
    repo = Path(__file__).resolve().parents[3]
    return (repo.parent / "shared" / "data").resolve()


def _build(cls: type, raw: Any, where: str, path: Path) -> Any:
    if not isinstance(raw, dict):
        raise DatasetError(f"{where} must be a mapping; got {type(raw).__name__}", path)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise DatasetError(f"{where} has unknown keys {unknown}; known: {', '.join(sorted(names))}", path)
    try:
        return cls(**raw)
    except TypeError as exc:
        raise DatasetError(f"{where}: {exc}", path) from exc


def _globs(value: Any, where: str, path: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise DatasetError(f"{where} must be a glob string or a list of them; got {value!r}", path)


def parse_descriptor(raw: Any, path: Path) -> DatasetDescriptor:
    """Build and check a descriptor from parsed YAML.

    Raises:
        DatasetError: unknown keys, bad kind/format/wavelength source, or missing required fields.
    """
    if not isinstance(raw, dict):
        raise DatasetError("Descriptor must be a YAML mapping", path)
    raw = dict(raw)
    if isinstance(raw.get("wavelengths"), dict):
        raw["wavelengths"] = _build(WavelengthSource, raw["wavelengths"], "wavelengths", path)
    if isinstance(raw.get("bad_bands"), dict):
        raw["bad_bands"] = _build(BadBandSource, raw["bad_bands"], "bad_bands", path)
    if "scenes" in raw:
        scenes = []
        for i, s in enumerate(raw["scenes"] or []):
            s = dict(s) if isinstance(s, dict) else s
            if isinstance(s, dict) and "files" in s:
                s["files"] = _globs(s["files"], f"scenes[{i}].files", path)
            if isinstance(s, dict) and isinstance(s.get("wavelengths"), dict):
                s["wavelengths"] = _build(
                    WavelengthSource, s["wavelengths"], f"scenes[{i}].wavelengths", path
                )
            scenes.append(_build(SceneEntry, s, f"scenes[{i}]", path))
        raw["scenes"] = tuple(scenes)
    if "files" in raw:
        raw["files"] = _globs(raw["files"], "files", path)
    if isinstance(raw.get("msi"), dict):
        m = dict(raw["msi"])
        for key in ("wavelengths", "fwhm", "band_names"):
            if m.get(key) is not None:
                m[key] = tuple(m[key])
        raw["msi"] = _build(CompanionMSI, m, "msi", path)
    d: DatasetDescriptor = _build(DatasetDescriptor, raw, "descriptor", path)
    d = replace(d, source=path)
    if d.kind not in KINDS:
        raise DatasetError(f"Unknown kind {d.kind!r}; known: {', '.join(KINDS)}", path)
    if d.format not in FORMATS:
        raise DatasetError(f"Unknown format {d.format!r}; known: {', '.join(FORMATS)}", path)
    if d.kind == "scene":
        if not d.scenes:
            raise DatasetError("A scene descriptor needs at least one entry under 'scenes'", path)
        if d.wavelengths is None:
            raise DatasetError("A scene descriptor needs a 'wavelengths' section", path)
        if d.wavelengths.source not in WAVELENGTH_SOURCES:
            raise DatasetError(
                f"Unknown wavelengths.source {d.wavelengths.source!r}; "
                f"known: {', '.join(WAVELENGTH_SOURCES)}",
                path,
            )
        for where, scale in [("value_scale", d.value_scale)] + [
            (f"scenes[{i}].value_scale", s.value_scale)
            for i, s in enumerate(d.scenes)
            if s.value_scale is not None
        ]:
            if scale != "auto" and not (isinstance(scale, int | float) and scale > 0):
                raise DatasetError(f"{where} must be a positive number or 'auto'; got {scale!r}", path)
        for i, s in enumerate(d.scenes):
            if s.wavelengths is not None and s.wavelengths.source not in WAVELENGTH_SOURCES:
                raise DatasetError(
                    f"Unknown scenes[{i}].wavelengths.source {s.wavelengths.source!r}; "
                    f"known: {', '.join(WAVELENGTH_SOURCES)}",
                    path,
                )
    elif not d.files:
        raise DatasetError(f"A {d.kind} descriptor needs 'files' globs", path)
    return d


def load_descriptor(path: str | Path) -> DatasetDescriptor:
    """Read one descriptor YAML.

    Raises:
        DatasetError: the file is missing, not YAML, or fails ``parse_descriptor``.
    """
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DatasetError("Descriptor file not found", p) from exc
    except yaml.YAMLError as exc:
        raise DatasetError(f"Descriptor is not valid YAML: {exc}", p) from exc
    return parse_descriptor(raw, p)


def packaged_descriptors() -> dict[str, DatasetDescriptor]:
    """The descriptors shipped in ``spectra_distill/datasets``, keyed by folder."""
    out: dict[str, DatasetDescriptor] = {}
    pkg = resources.files("spectra_distill") / "datasets"
    for entry in sorted(pkg.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            d = load_descriptor(Path(str(entry)))
            out[d.folder] = d
    return out


def all_descriptors(descriptor_dir: str | Path | None = None) -> dict[str, DatasetDescriptor]:
    """Packaged descriptors, then those in ``descriptor_dir`` (which replace same-folder ones)."""
    out = packaged_descriptors()
    if descriptor_dir is not None:
        extra = Path(descriptor_dir)
        if not extra.is_dir():
            raise DatasetError("Descriptor directory not found", extra)
        for p in sorted(extra.glob("*.yaml")):
            d = load_descriptor(p)
            out[d.folder] = d
    return out


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """A small CSV as (header, rows); names may be quoted and contain commas, and may repeat."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError as exc:
        raise DatasetError("CSV file not found", path) from exc
    if not rows:
        raise DatasetError("CSV file is empty", path)
    header, body = rows[0], [r for r in rows[1:] if r]
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise DatasetError(f"Row {i + 2} has {len(r)} fields; the header has {len(header)}", path)
    return header, body


def read_csv_columns(path: Path) -> dict[str, list[str]]:
    """A small CSV as {column: values} (strings); a repeated column name keeps its first column."""
    header, body = read_csv_rows(path)
    out: dict[str, list[str]] = {}
    for j, name in enumerate(header):
        out.setdefault(name, [r[j] for r in body])
    return out


def csv_float_column(path: Path, column: str) -> np.ndarray:
    """One numeric CSV column as float64.

    Raises:
        DatasetError: the column is missing (names the columns present) or holds a non-number.
    """
    cols = read_csv_columns(path)
    if column not in cols:
        raise DatasetError(f"CSV has no column {column!r}; it has {', '.join(cols)}", path)
    try:
        return np.array([float(v) for v in cols[column]], dtype=np.float64)
    except ValueError as exc:
        raise DatasetError(f"Column {column!r} holds a non-number: {exc}", path) from exc


def _auto_describe(folder: Path) -> DatasetDescriptor | None:
    """A generic descriptor for an undescribed folder, or None if nothing recognisable is there.

    Recognised: ENVI headers that carry wavelengths (one scene each), or 3-D .npy files (H, W, bands)
    beside a ``*_bands.csv`` whose row count matches their band count.
    """
    from spectra_distill.data.envi import parse_header

    source = folder / "<auto>"
    for hdr in sorted(folder.glob("*.hdr")):
        try:
            header = parse_header(hdr)
        except DatasetError:
            continue
        if header.wavelengths is not None:
            scenes = tuple(
                SceneEntry(name=f"{folder.name}_{h.stem}", files=(h.name,))
                for h in sorted(folder.glob("*.hdr"))
            )
            return DatasetDescriptor(
                folder=folder.name, kind="scene", sensor="unknown", format="envi", value_scale="auto",
                wavelengths=WavelengthSource(source="envi"), scenes=scenes, source=source,
                notes="auto-described from ENVI headers; value_scale chosen from the data",
            )  # fmt: skip
    for csv_path in sorted(folder.glob("*_bands.csv")):
        cols = read_csv_columns(csv_path)
        wl_col = next((c for c in cols if "nm" in c.lower() and "fwhm" not in c.lower()), None)
        if wl_col is None:
            continue
        n = len(cols[wl_col])
        scenes = []
        for npy in sorted(folder.glob("*.npy")):
            try:
                shape = np.load(npy, mmap_mode="r").shape
            except (ValueError, OSError):
                continue
            if len(shape) == 3 and shape[2] == n:
                scenes.append(SceneEntry(name=f"{folder.name}_{npy.stem}", files=(npy.name,)))
        if scenes:
            wl_source = WavelengthSource(source="csv", file=csv_path.name, column=wl_col)
            return DatasetDescriptor(
                folder=folder.name, kind="scene", sensor="unknown", format="npy", layout="hwc",
                value_scale="auto", wavelengths=wl_source,
                scenes=tuple(scenes), source=source,
                notes="auto-described from .npy + *_bands.csv; value_scale chosen from the data",
            )  # fmt: skip
    return None


def is_auto_described(d: DatasetDescriptor) -> bool:
    """True for a descriptor ``discover`` generated for a folder without a YAML (value scale guessed)."""
    return d.source is not None and Path(d.source).name == "<auto>"


def discover(
    root: str | Path | None = None, descriptor_dir: str | Path | None = None
) -> list[DatasetDescriptor]:
    """Match the data root's sub-folders to descriptors.

    Folders without a descriptor are auto-described when they hold an ENVI header with wavelengths or a
    .npy cube with a ``*_bands.csv``; otherwise they are skipped (both logged at DEBUG; ``load_scenes``
    warns about the auto-described datasets it actually loads). Descriptors whose folder
    is absent are skipped silently (the data root may be a subset).

    Args:
        root: Data root; defaults to ``default_data_root()``.
        descriptor_dir: Extra descriptor YAMLs (override packaged ones for the same folder).

    Returns:
        Descriptors sorted by folder.

    Raises:
        DatasetError: ``root`` is not a folder, or a descriptor is malformed.
    """
    base = Path(root) if root is not None else default_data_root()
    if not base.is_dir():
        raise DatasetError("Data root is not a folder (set SPECTRA_DATA or pass --data)", base)
    known = all_descriptors(descriptor_dir)
    found: list[DatasetDescriptor] = []
    for sub in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name in SOURCE_FOLDERS:
            continue
        if sub.name in known:
            found.append(known[sub.name])
            continue
        auto = _auto_describe(sub)
        # debug only: most runs use a few of the root's folders; load_scenes warns about those it loads
        if auto is not None:
            logger.debug("%s: no descriptor; auto-described as %d scene(s)", sub, len(auto.scenes))
            found.append(auto)
        else:
            logger.debug("%s: no descriptor and nothing recognisable; skipped", sub)
    return found
