"""HR-MSI simulation: project an HR-HSI through real sensor spectral response functions (SRFs).

Matrix on the cube's wavelengths (``b`` MSI bands x ``B`` cube bands)::

    M[j, i] = g_j(lambda_i) * d_i * valid_i,  then each row divided by its sum

``g_j`` is the tabulated response of MSI band ``j`` linearly interpolated at the cube band centre
``lambda_i`` (0 outside the table), ``d_i`` the width of the cube band's cell (the interval between the
midpoints to its neighbours in wavelength order, the outer half of an end band mirrored from its inner
half, each half capped at the coverage half-width ``h``), and ``valid_i`` 0 for masked bands. On an evenly
spaced grid ``d_i`` is constant, so ``M`` is the SRF sampled at the band centres (CAVE with the Nikon D700
gives the usual 3 x 31 matrix); ``d_i`` only matters where bands are unevenly spaced or overlap
(EnMAP's VNIR/SWIR overlap at 902-993 nm).

Coverage: cube band ``i`` covers its cell (above), ``h = 0.75 *`` the median spacing of the sorted
centres, so a gap left by removed bands (water vapour) stays uncovered. An MSI band's support is where its
response exceeds 1 % of its peak; support outside the covered wavelengths raises :class:`SRFCoverageError`
unless ``clip=True``. ``lost_fraction[j]`` is the share of band ``j``'s response integral (on the SRF's own
grid) that falls outside the cube's covered wavelengths or
on masked bands; the kept part is renormalised.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectra_distill.data.cube import Cube
from spectra_distill.data.descriptors import default_data_root
from spectra_distill.data.spectra import load_srf
from spectra_distill.errors import BandCountError, NonFiniteError, SRFCoverageError, WavelengthError

SUPPORT_THRESHOLD = 0.01
COVER_HALF_WIDTH = 0.75


@dataclass(frozen=True)
class SRFPreset:
    """A named MSI sensor: an SRF CSV in ``<data root>/srf/`` and the band columns to use."""

    srf_file: str
    bands: tuple[str, ...]


PRESETS: dict[str, SRFPreset] = {
    "rgb": SRFPreset("nikon_d700_srf.csv", ("R", "G", "B")),
    "s2_4": SRFPreset("s2a_msi_srf.csv", ("B2", "B3", "B4", "B8")),
    "s2_6": SRFPreset("s2a_msi_srf.csv", ("B2", "B3", "B4", "B8", "B11", "B12")),
}


@dataclass(frozen=True)
class SRFMatrix:
    """An SRF resampled onto a cube's wavelengths.

    Attributes:
        matrix: (b, B) float64, rows sum to 1.
        band_names: MSI band names, length b.
        centroids: (b,) response-weighted centre wavelength of each row on the cube's wavelengths (nm).
        lost_fraction: (b,) share of each band's response not seen by the cube (clipped range, masked bands).
        preset: The preset string it was built from.
        srf_file: The SRF CSV file name.
    """

    matrix: np.ndarray
    band_names: tuple[str, ...]
    centroids: np.ndarray
    lost_fraction: np.ndarray
    preset: str
    srf_file: str

    @property
    def msi_bands(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def hsi_bands(self) -> int:
        return int(self.matrix.shape[1])

    def project(self, hsi: np.ndarray) -> np.ndarray:
        """(B, H, W) -> (b, H, W) float32; raises BandCountError when B does not match the matrix."""
        hsi = np.asarray(hsi)
        if hsi.ndim != 3 or hsi.shape[0] != self.hsi_bands:
            raise BandCountError(
                f"SRF '{self.preset}' is built for {self.hsi_bands} HSI bands; got an array of shape "
                f"{hsi.shape}"
            )
        if not np.all(np.isfinite(hsi)):
            raise NonFiniteError(f"HSI passed to SRF '{self.preset}' holds NaN/Inf values")
        out = np.tensordot(self.matrix, hsi.astype(np.float64, copy=False), axes=(1, 0))
        return out.astype(np.float32)

    def as_card(self) -> dict[str, object]:
        """The model-card ``msi`` entry."""
        return {
            "preset": self.preset,
            "bands": self.msi_bands,
            "band_names": list(self.band_names),
            "srf_file": self.srf_file,
            "srf": self.matrix.tolist(),
        }


def resolve_preset(preset: str, srf_dir: str | Path) -> tuple[Path, tuple[str, ...]]:
    """``rgb`` / ``s2_4`` / ``s2_6`` or ``srf=<file>:<band>,<band>,...`` -> (CSV path, band names)."""
    if preset.startswith("srf="):
        spec = preset[len("srf=") :]
        file_part, sep, bands_part = spec.rpartition(":")
        if not sep or not file_part or not bands_part:
            raise ValueError(f"Explicit SRF must look like 'srf=<file>:<band>,<band>'; got '{preset}'")
        path = Path(file_part)
        if not path.is_absolute() and not path.exists():
            path = Path(srf_dir) / path
        return path, tuple(b.strip() for b in bands_part.split(",") if b.strip())
    if preset not in PRESETS:
        raise ValueError(f"Unknown MSI preset '{preset}'; known: {', '.join(PRESETS)}, or srf=<file>:<bands>")
    p = PRESETS[preset]
    return Path(srf_dir) / p.srf_file, p.bands


def _cells(wavelengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per band: lower and upper cell edge (nm) and the coverage half-width h."""
    order = np.argsort(wavelengths, kind="stable")
    wl = wavelengths[order]
    spacing = np.diff(wl)
    h = COVER_HALF_WIDTH * float(np.median(spacing[spacing > 0])) if np.any(spacing > 0) else 5.0
    lower_half = np.empty_like(wl)
    upper_half = np.empty_like(wl)
    lower_half[1:] = spacing / 2
    upper_half[:-1] = spacing / 2
    lower_half[0] = upper_half[0] if len(wl) > 1 else h
    upper_half[-1] = lower_half[-1] if len(wl) > 1 else h
    lo = np.empty_like(wl)
    hi = np.empty_like(wl)
    lo[order] = wl - np.minimum(lower_half, h)
    hi[order] = wl + np.minimum(upper_half, h)
    return lo, hi, h


def _covered(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.any((points[:, None] >= lo[None, :]) & (points[:, None] <= hi[None, :]), axis=1)


def _runs(points: np.ndarray, flags: np.ndarray) -> list[tuple[float, float]]:
    """Contiguous runs of flagged samples as (first, last) wavelength pairs."""
    runs: list[tuple[float, float]] = []
    start: float | None = None
    prev = 0.0
    for p, f in zip(points, flags, strict=True):
        if f and start is None:
            start = float(p)
        if not f and start is not None:
            runs.append((start, prev))
            start = None
        prev = float(p)
    if start is not None:
        runs.append((start, prev))
    return runs


def srf_matrix(
    preset: str,
    wavelengths: np.ndarray,
    band_mask: np.ndarray | None = None,
    clip: bool = False,
    srf_dir: str | Path | None = None,
) -> SRFMatrix:
    """Build the (b, B) projection matrix of an MSI preset on a cube's wavelengths.

    Args:
        preset: ``rgb`` (Nikon D700 R, G, B), ``s2_4`` (Sentinel-2A B2, B3, B4, B8), ``s2_6`` (+ B11, B12) or
            ``srf=<file>:<band>,<band>,...`` (file relative to ``srf_dir`` unless it exists as given).
        wavelengths: (B,) cube band centres in nm.
        band_mask: (B,) bool; False bands get zero weight.
        clip: Accept SRFs that reach outside the cube's wavelengths, dropping (and reporting) that part.
        srf_dir: Folder of SRF CSVs; defaults to ``<data root>/srf``.

    Raises:
        SRFCoverageError: a band's support is not covered (and ``clip`` is False), or nothing of it
            remains.
        BandCountError: ``band_mask`` has the wrong length, or a requested band is not in the file.
    """
    if srf_dir is None:
        srf_dir = default_data_root() / "srf"
    path, names = resolve_preset(preset, srf_dir)
    table = load_srf(path)
    missing = [n for n in names if n not in table.names]
    if missing or not names:
        raise BandCountError(
            f"Bands {missing or names} not in SRF file; it has {', '.join(table.names)}", path
        )
    wl = np.asarray(wavelengths, dtype=np.float64)
    if wl.ndim != 1 or wl.size == 0 or not np.all(np.isfinite(wl)):
        raise WavelengthError(f"Cube wavelengths must be a finite 1-D array; got shape {wl.shape}")
    mask = np.ones(wl.shape, dtype=bool) if band_mask is None else np.asarray(band_mask, dtype=bool)
    if mask.shape != wl.shape:
        raise BandCountError(f"band_mask has {mask.size} entries for {wl.size} wavelengths")

    lo, hi, _ = _cells(wl)
    width = (hi - lo) * mask
    covered_all = _covered(table.wavelengths, lo, hi)
    covered_valid = _covered(table.wavelengths, lo[mask], hi[mask])
    rows, lost = [], []
    for name in names:
        g = table.band(name)
        support = g > SUPPORT_THRESHOLD * g.max()
        outside = support & ~covered_all
        if outside.any() and not clip:
            missing_ranges = ", ".join(
                f"{a:.0f} nm" if a == b else f"{a:.0f}-{b:.0f} nm"
                for a, b in _runs(table.wavelengths, outside)
            )
            raise SRFCoverageError(
                f"MSI band {name} of '{preset}' responds over {table.wavelengths[support].min():.0f}-"
                f"{table.wavelengths[support].max():.0f} nm but the cube's bands ({lo.min():.1f}-"
                f"{hi.max():.1f} nm) miss {missing_ranges} (clip=True drops that part)",
                path,
            )
        total = float(g.sum())
        lost.append(1.0 - float(g[covered_valid].sum()) / total if total > 0 else 1.0)
        row = np.interp(wl, table.wavelengths, g, left=0.0, right=0.0) * width
        if row.sum() <= 0:
            raise SRFCoverageError(
                f"MSI band {name} of '{preset}' has no response on the cube's valid bands", path
            )
        rows.append(row / row.sum())
    matrix = np.stack(rows)
    return SRFMatrix(
        matrix=matrix,
        band_names=tuple(names),
        centroids=matrix @ wl,
        lost_fraction=np.asarray(lost),
        preset=preset,
        srf_file=path.name,
    )


def srf_for_cube(cube: Cube, preset: str, clip: bool = False, srf_dir: str | Path | None = None) -> SRFMatrix:
    """:func:`srf_matrix` on a cube's wavelengths and band mask; errors name the cube's file."""
    try:
        return srf_matrix(preset, cube.wavelengths, cube.band_mask, clip=clip, srf_dir=srf_dir)
    except SRFCoverageError as exc:
        where = cube.provenance.get("path") or cube.provenance.get("scene")
        raise SRFCoverageError(f"{exc} [cube: {where}]") from exc


def project_cube(cube: Cube, srf: SRFMatrix) -> Cube:
    """The simulated HR-MSI of an HR-HSI cube: bands at the SRF centroids, the cube's valid mask."""
    if cube.bands != srf.hsi_bands:
        raise BandCountError(
            f"SRF '{srf.preset}' is built for {srf.hsi_bands} bands; cube has {cube.bands}",
            cube.provenance.get("path"),
        )
    prov = dict(cube.provenance, msi_preset=srf.preset, msi_bands=list(srf.band_names))
    return Cube(data=srf.project(cube.data), wavelengths=srf.centroids, valid=cube.valid, provenance=prov)
