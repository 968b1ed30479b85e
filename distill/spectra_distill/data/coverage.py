"""An input cube on a model's band grid when it covers only part of it, exactly as the SDK's ``fuse --resample``.

Training feeds a band a region lacks (``band_mask`` False: water vapour, EnMAP bad bands, outside the sensor)
as zeros and leaves it out of every loss and metric. A user's cube that covers only part of a model's grid
is treated the same way: the covered model bands are resampled from the input (``resampling_matrix``, the
contract with the SDK), the rest are zeros, and ``band_valid`` says which is which. The SDK's
``sdk/spectral/coverage.ts`` ``toModelGrid`` is the same function; ``spectra-distill coverage-vectors`` writes
test vectors that pin the two together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spectra_distill.data.cube import Cube
from spectra_distill.data.resample import resampling_matrix
from spectra_distill.errors import BandCountError, WavelengthError

#: Two grids are the same when every centre agrees within this (nm), as the SDK's ``sameGrid``.
SAME_GRID_NM = 0.5


@dataclass(frozen=True)
class ModelGridInput:
    """An LR-HSI on a model's band grid.

    Attributes:
        data: (B_model, H, W) float32; bands that are not valid hold zeros (unless passed through unchanged).
        band_valid: (B_model,) bool: covered by the input and learnt by the model.
        covered: (B_model,) bool: covered by the input (whatever the model learnt).
        resampled: False when the input was already on the grid with no masked band and passed through.
    """

    data: np.ndarray
    band_valid: np.ndarray
    covered: np.ndarray
    resampled: bool


def same_grid(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= SAME_GRID_NM))


def to_model_grid(
    cube: Cube,
    wavelengths: np.ndarray,
    fwhm: np.ndarray | None = None,
    model_band_valid: np.ndarray | None = None,
) -> ModelGridInput:
    """Put a cube on a model's band grid, resampling what it covers and zero-filling the rest.

    A cube already on the grid (every centre within 0.5 nm) with no masked band passes through unchanged.
    Otherwise each model band is the Gaussian-weighted sum of the valid input bands (``resampling_matrix``),
    accumulated in float64 and stored as float32, or zero where the input's coverage does not hold the band's
    +-FWHM/2 window.

    Args:
        cube: (B_src, H, W) input; ``band_mask`` False bands never contribute; ``fwhm`` None means the median
            input spacing.
        wavelengths: (B_model,) model band centres in nm (the card's ``hsi.wavelengths_nm``).
        fwhm: (B_model,) model FWHM in nm, or None (median model spacing).
        model_band_valid: (B_model,) the card's ``hsi.band_valid``; None = every band learnt.

    Returns:
        ModelGridInput.

    Raises:
        WavelengthError: the input covers none of the model's learnt bands.
        BandCountError: ``model_band_valid`` or ``fwhm`` do not match the model grid.
    """
    wl = np.asarray(wavelengths, dtype=np.float64)
    learnt = (
        np.ones(wl.shape, dtype=bool)
        if model_band_valid is None
        else np.asarray(model_band_valid, dtype=bool)
    )
    if learnt.shape != wl.shape:
        raise BandCountError(f"model_band_valid has shape {learnt.shape}; expected {wl.shape}")
    masked = cube.band_mask is not None and not bool(np.all(cube.band_mask))
    if same_grid(cube.wavelengths, wl) and not masked:
        covered = np.ones(wl.shape, dtype=bool)
        return ModelGridInput(cube.data, covered & learnt, covered, resampled=False)
    M, covered = resampling_matrix(cube.wavelengths, cube.fwhm, cube.band_mask, wl, fwhm, "gaussian")
    if not np.any(covered & learnt):
        raise WavelengthError(
            f"The input ({cube.bands} bands, {cube.wavelengths.min():.0f}-{cube.wavelengths.max():.0f} nm) covers "
            f"none of the model's bands ({wl.size} bands, {wl.min():.0f}-{wl.max():.0f} nm)",
            cube.provenance.get("path"),
        )
    # Only contributing bands enter the product, so NaN in a bad band cannot leak through a zero weight.
    used = np.flatnonzero(M.any(axis=0))
    flat = cube.data[used].reshape(used.size, -1).astype(np.float64)
    data = (M[:, used] @ flat).astype(np.float32).reshape(wl.size, cube.height, cube.width)
    # Training never fed a value in a band the model did not learn (every region had it masked): zero those too.
    data[~(covered & learnt)] = 0.0
    return ModelGridInput(data, covered & learnt, covered, resampled=True)
