"""Spectral tables: sensor response functions (SRFs) and spectral libraries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectra_distill.data.descriptors import default_data_root, read_csv_rows
from spectra_distill.errors import BandCountError, DatasetError, WavelengthError


@dataclass(frozen=True)
class SpectralResponse:
    """Tabulated band responses of a sensor.

    Attributes:
        wavelengths: (W,) strictly increasing grid in nm.
        names: Band names, one per column of ``responses``.
        responses: (W, n_bands) float64, non-negative (as tabulated; not normalised).
        path: The CSV it came from.
    """

    wavelengths: np.ndarray
    names: tuple[str, ...]
    responses: np.ndarray
    path: Path

    def band(self, name: str) -> np.ndarray:
        """One band's (W,) response.

        Raises:
            BandCountError: unknown band (lists the known ones).
        """
        if name not in self.names:
            raise BandCountError(f"No band {name!r}; bands: {', '.join(self.names)}", self.path)
        return self.responses[:, self.names.index(name)]

    def select(self, names: list[str]) -> SpectralResponse:
        """A response with only ``names``, in that order."""
        cols = [self.band(n) for n in names]
        return SpectralResponse(self.wavelengths, tuple(names), np.stack(cols, axis=1), self.path)

    def centroids(self) -> np.ndarray:
        """(n_bands,) response-weighted mean wavelength of each band, in nm."""
        w = self.responses
        return (self.wavelengths[:, None] * w).sum(axis=0) / w.sum(axis=0)


@dataclass(frozen=True)
class SpectralLibrary:
    """Named reflectance spectra on one wavelength grid.

    Attributes:
        wavelengths: (B,) nm.
        fwhm: (B,) nm or None.
        names: One name per spectrum.
        spectra: (N, B) float64 reflectance (0..~1).
        path: The CSV it came from.
    """

    wavelengths: np.ndarray
    fwhm: np.ndarray | None
    names: tuple[str, ...]
    spectra: np.ndarray
    path: Path

    def matching(self, substring: str) -> SpectralLibrary:
        """The spectra whose name contains ``substring`` (case-insensitive)."""
        keep = [i for i, n in enumerate(self.names) if substring.lower() in n.lower()]
        return SpectralLibrary(
            self.wavelengths, self.fwhm, tuple(self.names[i] for i in keep), self.spectra[keep], self.path
        )


def _resolve(name_or_path: str | Path, folder: Path, suffix: str, what: str) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".csv" and p.is_file():
        return p
    name = str(name_or_path)
    candidates = [
        folder / f"{name}.csv",
        folder / f"{name}{suffix}.csv",
        *folder.glob(f"*/{name}{suffix}.csv"),
    ]
    candidates += list(folder.glob(f"{name}/*{suffix}.csv"))
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        known = sorted(c.name.removesuffix(".csv") for c in folder.glob(f"**/*{suffix}.csv"))
        raise DatasetError(f"Unknown {what} {name!r}; known: {', '.join(known)}", folder)
    return found


def _numeric_table(
    path: Path, index_columns: set[str]
) -> tuple[dict[str, np.ndarray], list[str], np.ndarray]:
    """(index columns by name, other column names in file order, other columns as (rows, n) float64)."""
    header, body = read_csv_rows(path)
    try:
        values = np.array([[float(v) for v in r] for r in body], dtype=np.float64).reshape(
            len(body), len(header)
        )
    except ValueError as exc:
        raise DatasetError(f"CSV holds a non-number: {exc}", path) from exc
    idx = {n: values[:, j] for j, n in enumerate(header) if n in index_columns}
    keep = [j for j, n in enumerate(header) if n not in index_columns]
    return idx, [header[j] for j in keep], values[:, keep]


def load_srf(name_or_path: str | Path, root: str | Path | None = None) -> SpectralResponse:
    """Load an SRF CSV (``wavelength_nm`` then one column per band).

    Args:
        name_or_path: A CSV path, or a name in ``<root>/srf`` such as ``nikon_d700`` or ``s2a_msi_srf``.
        root: Data root; defaults to ``default_data_root()``.

    Raises:
        DatasetError: unknown name (lists the known ones) or malformed CSV.
        WavelengthError: grid missing, non-finite or not strictly increasing.
    """
    folder = (Path(root) if root is not None else default_data_root()) / "srf"
    path = _resolve(name_or_path, folder, "_srf", "SRF")
    index, names, resp = _numeric_table(path, {"wavelength_nm"})
    if "wavelength_nm" not in index:
        raise WavelengthError("SRF CSV lacks a 'wavelength_nm' column", path)
    wl = index["wavelength_nm"]
    if not np.all(np.isfinite(wl)) or np.any(np.diff(wl) <= 0):
        raise WavelengthError("SRF wavelength grid must be finite and strictly increasing", path)
    if np.any(resp < 0) or not np.all(np.isfinite(resp)):
        raise DatasetError("SRF responses must be finite and non-negative", path)
    return SpectralResponse(wl, tuple(names), resp, path)


def load_library(name_or_path: str | Path, root: str | Path | None = None) -> SpectralLibrary:
    """Load a spectral library CSV (``wavelength_nm``, optional ``fwhm_nm``, one column per spectrum).

    Args:
        name_or_path: A CSV path, or ``usgs1995_aviris224`` / ``earthlib_optimized`` in
            ``<root>/spectral_libraries``.
        root: Data root; defaults to ``default_data_root()``.

    Raises:
        DatasetError: unknown name or malformed CSV.
        WavelengthError: no ``wavelength_nm`` column.
    """
    folder = (Path(root) if root is not None else default_data_root()) / "spectral_libraries"
    path = _resolve(name_or_path, folder, "_spectra", "spectral library")
    index, names, values = _numeric_table(path, {"wavelength_nm", "fwhm_nm"})
    if "wavelength_nm" not in index:
        raise WavelengthError("Library CSV lacks a 'wavelength_nm' column", path)
    return SpectralLibrary(index["wavelength_nm"], index.get("fwhm_nm"), tuple(names), values.T.copy(), path)
