"""Typed errors for bad input. Every message names the file (when there is one) and the problem."""

from __future__ import annotations

from pathlib import Path


class SpectraDataError(ValueError):
    """Base class: a data, configuration or model problem the caller can act on."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class WavelengthError(SpectraDataError):
    """Wavelengths missing, of the wrong length, non-finite or not strictly usable."""


class BandCountError(SpectraDataError):
    """A cube or matrix has a different number of bands than required."""


class SRFCoverageError(SpectraDataError):
    """A spectral response function reaches outside the wavelengths a cube covers."""


class ScaleError(SpectraDataError):
    """Spatial sizes are not divisible by the scale, or two inputs disagree on the scale ratio."""


class NonFiniteError(SpectraDataError):
    """NaN or Inf where finite values are required."""


class TruncatedFileError(SpectraDataError):
    """A raster file is shorter than its header promises."""


class UnsupportedDataTypeError(SpectraDataError):
    """An ENVI data type (or other storage type) this package cannot read or write."""


class DatasetError(SpectraDataError):
    """A dataset folder, descriptor or split file is missing or inconsistent."""


class CheckpointError(SpectraDataError):
    """A checkpoint lacks a key or holds weights that do not fit its model config."""


class ExportError(SpectraDataError):
    """An exported ONNX model fails the checker or disagrees with PyTorch."""


class ConfigError(SpectraDataError):
    """An experiment config (YAML/JSON or a `--set` override) has an unknown key or a bad value."""
