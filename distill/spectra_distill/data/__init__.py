"""Hyperspectral data: the Cube value, file readers and writers, dataset discovery, resampling, splits."""

from spectra_distill.data.cube import Cube

__all__ = ["Cube"]
