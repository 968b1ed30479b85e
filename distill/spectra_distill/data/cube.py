"""The `Cube` value every part of the host pipeline passes around."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from spectra_distill.errors import BandCountError, NonFiniteError, WavelengthError


@dataclass(frozen=True)
class Cube:
    """A hyperspectral or multispectral image.

    Attributes:
        data: float32 array of shape (bands, H, W). Values are in physical units scaled to roughly 0..1
            (reflectance, or radiance divided by the dataset's documented factor).
        wavelengths: Band centres in nm, shape (bands,). For an MSI these are the SRF-weighted centroids.
        fwhm: Band widths in nm, shape (bands,), or None when the source does not state them.
        valid: Optional bool mask of shape (H, W); False marks nodata pixels (EnMAP gaps), excluded from
            sampling and metrics.
        band_mask: Optional bool mask of shape (bands,); False marks bands the source lacks (water-vapour
            gaps, bad bands). Such bands hold zeros and are excluded from losses and metrics.
        provenance: Free-form facts about where the cube came from (dataset, file, scene, region, scale).
    """

    data: np.ndarray
    wavelengths: np.ndarray
    fwhm: np.ndarray | None = None
    valid: np.ndarray | None = None
    band_mask: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 3:
            raise BandCountError(f"Cube data must be (bands, H, W); got shape {data.shape}")
        if data.dtype != np.float32:
            data = data.astype(np.float32)
        object.__setattr__(self, "data", data)
        wl = np.asarray(self.wavelengths, dtype=np.float64)
        if wl.shape != (data.shape[0],):
            raise WavelengthError(
                f"Expected {data.shape[0]} wavelengths for a {data.shape[0]}-band cube; got shape {wl.shape}"
            )
        if not np.all(np.isfinite(wl)):
            raise WavelengthError("Wavelengths contain NaN or Inf")
        object.__setattr__(self, "wavelengths", wl)
        if self.fwhm is not None:
            fw = np.asarray(self.fwhm, dtype=np.float64)
            if fw.shape != wl.shape:
                raise WavelengthError(f"fwhm has shape {fw.shape}; expected {wl.shape}")
            object.__setattr__(self, "fwhm", fw)
        if self.valid is not None:
            v = np.asarray(self.valid, dtype=bool)
            if v.shape != data.shape[1:]:
                raise BandCountError(f"valid mask has shape {v.shape}; expected {data.shape[1:]}")
            object.__setattr__(self, "valid", v)
        if self.band_mask is not None:
            m = np.asarray(self.band_mask, dtype=bool)
            if m.shape != wl.shape:
                raise BandCountError(f"band_mask has shape {m.shape}; expected {wl.shape}")
            object.__setattr__(self, "band_mask", m)

    @property
    def bands(self) -> int:
        return int(self.data.shape[0])

    @property
    def height(self) -> int:
        return int(self.data.shape[1])

    @property
    def width(self) -> int:
        return int(self.data.shape[2])

    def with_data(self, data: np.ndarray, **changes: Any) -> Cube:
        """A copy with new pixel data (and optionally other fields replaced)."""
        return replace(self, data=data, **changes)

    def crop(self, top: int, left: int, height: int, width: int) -> Cube:
        """A spatial window; masks follow, provenance records the window."""
        sl = (slice(top, top + height), slice(left, left + width))
        prov = dict(self.provenance)
        prov["window"] = [
            top + prov.get("window", [0, 0])[0],
            left + prov.get("window", [0, 0])[1],
            height,
            width,
        ]
        return replace(
            self,
            data=self.data[:, sl[0], sl[1]],
            valid=None if self.valid is None else self.valid[sl],
            provenance=prov,
        )

    def require_finite(self, name: str = "cube") -> Cube:
        """Raise NonFiniteError naming the first bad band when valid pixels hold NaN or Inf."""
        data = self.data if self.valid is None else self.data[:, self.valid]
        bad = ~np.isfinite(data)
        if bad.any():
            band = int(np.argwhere(bad.reshape(bad.shape[0], -1).any(axis=1))[0, 0])
            raise NonFiniteError(
                f"{name} holds {int(bad.sum())} NaN/Inf values (first in band {band}, "
                f"{self.wavelengths[band]:.1f} nm)",
                self.provenance.get("path"),
            )
        return self
