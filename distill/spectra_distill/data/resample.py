"""Spectral resampling of cubes onto a model's band grid, never inventing bands the source lacks.

The matrix built here is the contract with the TypeScript SDK, which must reproduce it exactly; the
formula is in ``resampling_matrix``'s docstring and in ``distill/DATA.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spectra_distill.data.cube import Cube
from spectra_distill.data.spectra import SpectralResponse
from spectra_distill.errors import BandCountError, WavelengthError

#: FWHM = FWHM_PER_SIGMA * sigma for a Gaussian: 2 * sqrt(2 * ln 2) = 2.3548200450309493.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: A valid source band covers its centre +- COVER_HALF_WIDTH * its FWHM, so bands spaced up to 1.5 FWHM apart
#: join into one covered range and a removed band (a gap of 2 spacings or more) breaks it.
COVER_HALF_WIDTH = 0.75
#: A response above this fraction of its peak counts as the support of an explicit SRF.
SRF_SUPPORT = 0.01
METHODS = ("gaussian", "linear", "srf")


@dataclass(frozen=True)
class ModelGrid:
    """A regular band grid a model is trained on: centres start, start + step, ..., stop; FWHM = step."""

    start: float
    stop: float
    step: float

    @property
    def wavelengths(self) -> np.ndarray:
        n = int(round((self.stop - self.start) / self.step)) + 1
        return self.start + self.step * np.arange(n, dtype=np.float64)

    @property
    def fwhm(self) -> np.ndarray:
        return np.full(self.wavelengths.shape, self.step, dtype=np.float64)


#: Default model grids: 206 bands for AVIRIS/EnMAP-like remote sensing, 31 for CAVE.
GRIDS: dict[str, ModelGrid] = {
    "vnir_swir_10nm": ModelGrid(400.0, 2450.0, 10.0),
    "cave31": ModelGrid(400.0, 700.0, 10.0),
}


def median_spacing(wavelengths: np.ndarray) -> float:
    """Median positive difference of the sorted centres (all bands, so a removed-band gap does not count)."""
    d = np.diff(np.sort(np.asarray(wavelengths, dtype=np.float64)))
    d = d[d > 0]
    if d.size == 0:
        raise WavelengthError("Need at least two distinct wavelengths to infer a band spacing")
    return float(np.median(d))


def _check(name: str, arr: np.ndarray | None, n: int) -> None:
    if arr is not None and arr.shape != (n,):
        raise BandCountError(f"{name} has shape {arr.shape}; expected ({n},)")


def source_coverage(
    src_wl: np.ndarray, src_fwhm: np.ndarray | None, src_mask: np.ndarray | None
) -> list[tuple[float, float]]:
    """Merged wavelength intervals (nm) covered by valid source bands, sorted.

    Valid band j covers [s_j - 0.75 f_j, s_j + 0.75 f_j], with f_j its FWHM, or the median source spacing
    when the source has no FWHM.
    """
    wl = np.asarray(src_wl, dtype=np.float64)
    f = np.full(wl.shape, median_spacing(wl)) if src_fwhm is None else np.asarray(src_fwhm, dtype=np.float64)
    ok = np.isfinite(wl) if src_mask is None else (np.asarray(src_mask, dtype=bool) & np.isfinite(wl))
    lo, hi = wl[ok] - COVER_HALF_WIDTH * f[ok], wl[ok] + COVER_HALF_WIDTH * f[ok]
    intervals: list[tuple[float, float]] = []
    for a, b in sorted(zip(lo.tolist(), hi.tolist(), strict=True)):
        if intervals and a <= intervals[-1][1]:
            intervals[-1] = (intervals[-1][0], max(intervals[-1][1], b))
        else:
            intervals.append((a, b))
    return intervals


def _inside(intervals: list[tuple[float, float]], a: float, b: float) -> bool:
    return any(lo <= a and b <= hi for lo, hi in intervals)


def resampling_matrix(
    src_wl: np.ndarray,
    src_fwhm: np.ndarray | None,
    src_mask: np.ndarray | None,
    dst_wl: np.ndarray,
    dst_fwhm: np.ndarray | None,
    method: str = "gaussian",
) -> tuple[np.ndarray, np.ndarray]:
    """Matrix M (B_dst, B_src) with dst = M @ src per pixel, and the (B_dst,) validity of each target band.

    Formula (``method='gaussian'``), reproduced bit-for-bit in float64 by the SDK:

    1. Source validity v_j = src_mask_j (all True if None). Source width f_j = src_fwhm_j, or, when
       ``src_fwhm`` is None, the median of the positive differences of the sorted source centres (all
       bands, valid or not). Target width F_i = dst_fwhm_i, or the same median over the target centres.
    2. Coverage: the union over valid j of [s_j - 0.75 f_j, s_j + 0.75 f_j], merged into intervals.
    3. Target band i is valid iff its window [c_i - F_i / 2, c_i + F_i / 2] lies inside one coverage
       interval. So a target in a removed water-vapour gap, over EnMAP bad bands, or beyond the source
       range is invalid; a target at the source's first or last centre stays valid.
    4. Weights: w_ij = exp(-0.5 * ((s_j - c_i) / sigma_i)^2) for valid j, 0 for invalid j, with
       sigma_i = F_i / 2.3548200450309493 (2 sqrt(2 ln 2)). Row i is divided by its sum. Invalid target
       rows (and rows whose sum underflows to 0) are all zeros.

    ``method='linear'`` uses the same validity rule (with F_i) and puts weights (1 - t, t) on the two valid
    source bands nearest below and above c_i (by wavelength; the nearer one when c_i equals a centre).

    Args:
        src_wl: (B_src,) source centres in nm (need not be sorted; spectrometer overlaps are fine).
        src_fwhm: (B_src,) or None.
        src_mask: (B_src,) bool or None.
        dst_wl: (B_dst,) target centres in nm.
        dst_fwhm: (B_dst,) or None.
        method: 'gaussian' or 'linear' (use ``srf_resampling_matrix`` for explicit SRFs).

    Returns:
        (matrix float64 (B_dst, B_src), dst_mask bool (B_dst,)).

    Raises:
        BandCountError: array lengths disagree. WavelengthError: non-finite centres or widths.
        ValueError: unknown method.
    """
    if method not in ("gaussian", "linear"):
        raise ValueError(
            f"Unknown method {method!r}; known: gaussian, linear (srf via srf_resampling_matrix)"
        )
    s = np.asarray(src_wl, dtype=np.float64)
    c = np.asarray(dst_wl, dtype=np.float64)
    sf = None if src_fwhm is None else np.asarray(src_fwhm, dtype=np.float64)
    df = None if dst_fwhm is None else np.asarray(dst_fwhm, dtype=np.float64)
    sm = None if src_mask is None else np.asarray(src_mask, dtype=bool)
    _check("src_fwhm", sf, s.size)
    _check("src_mask", sm, s.size)
    _check("dst_fwhm", df, c.size)
    for name, arr in (("src_wl", s), ("dst_wl", c), ("src_fwhm", sf), ("dst_fwhm", df)):
        if arr is not None and not np.all(np.isfinite(arr)):
            raise WavelengthError(f"{name} holds NaN or Inf")
    F = np.full(c.shape, median_spacing(c)) if df is None else df
    valid_src = np.ones(s.shape, dtype=bool) if sm is None else sm
    cover = source_coverage(s, sf, valid_src)
    dst_mask = np.array(
        [_inside(cover, ci - Fi / 2, ci + Fi / 2) for ci, Fi in zip(c, F, strict=True)], dtype=bool
    )
    M = np.zeros((c.size, s.size), dtype=np.float64)
    idx = np.flatnonzero(valid_src)
    if method == "gaussian":
        sigma = F / FWHM_PER_SIGMA
        w = np.exp(-0.5 * ((s[None, idx] - c[:, None]) / sigma[:, None]) ** 2)
        sums = w.sum(axis=1)
        dst_mask &= sums > 0
        M[:, idx] = np.divide(w, sums[:, None], out=np.zeros_like(w), where=sums[:, None] > 0)
    else:
        order = idx[np.argsort(s[idx], kind="stable")]
        ws = s[order]
        for i in np.flatnonzero(dst_mask):
            k = int(np.searchsorted(ws, c[i]))
            if k < ws.size and ws[k] == c[i]:
                M[i, order[k]] = 1.0
            elif 0 < k < ws.size:
                t = (c[i] - ws[k - 1]) / (ws[k] - ws[k - 1])
                M[i, order[k - 1]], M[i, order[k]] = 1.0 - t, t
            else:
                # In the coverage slack past the first or last centre: copy that band, never extrapolate.
                M[i, order[0] if k == 0 else order[-1]] = 1.0
    M[~dst_mask] = 0.0
    return M, dst_mask


def srf_resampling_matrix(
    src_wl: np.ndarray, src_fwhm: np.ndarray | None, src_mask: np.ndarray | None, srf: SpectralResponse
) -> tuple[np.ndarray, np.ndarray]:
    """Matrix (n_bands, B_src) from explicit responses: w_ij = response_i linearly interpolated at s_j
    (0 outside the table) for valid j, rows normalised to 1.

    Target band i is valid iff its support (response > 1 % of its peak, from first to last such sample)
    lies inside the source coverage (see ``resampling_matrix``) and its row sum is positive.
    """
    s = np.asarray(src_wl, dtype=np.float64)
    valid_src = np.ones(s.shape, dtype=bool) if src_mask is None else np.asarray(src_mask, dtype=bool)
    _check("src_mask", valid_src, s.size)
    cover = source_coverage(s, src_fwhm, valid_src)
    M = np.zeros((len(srf.names), s.size), dtype=np.float64)
    mask = np.zeros(len(srf.names), dtype=bool)
    for i in range(len(srf.names)):
        r = srf.responses[:, i]
        support = srf.wavelengths[r > SRF_SUPPORT * r.max()] if r.max() > 0 else np.array([])
        w = np.interp(s, srf.wavelengths, r, left=0.0, right=0.0) * valid_src
        if support.size and _inside(cover, float(support[0]), float(support[-1])) and w.sum() > 0:
            M[i] = w / w.sum()
            mask[i] = True
    return M, mask


def resample_cube(
    cube: Cube,
    target_wavelengths: np.ndarray | None = None,
    target_fwhm: np.ndarray | None = None,
    method: str = "gaussian",
    srf: SpectralResponse | None = None,
) -> Cube:
    """Resample a cube's bands onto target centres (or onto an explicit SRF's bands).

    Args:
        cube: Source cube; its ``band_mask`` marks bands that must not contribute.
        target_wavelengths: (B_dst,) nm; for ``method='srf'`` defaults to the SRF's centroids.
        target_fwhm: (B_dst,) nm or None (median target spacing).
        method: 'gaussian', 'linear' or 'srf'.
        srf: Required for ``method='srf'``.

    Returns:
        Cube (B_dst, H, W) float32; bands the source cannot support are zeros with ``band_mask`` False;
        ``valid`` is unchanged; provenance gains ``resampled_from`` (source band count) and ``resample``.

    Raises:
        ValueError: unknown method, or ``srf`` missing for method 'srf'.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; known: {', '.join(METHODS)}")
    if method == "srf":
        if srf is None:
            raise ValueError("method='srf' needs srf=SpectralResponse (see spectra_distill.data.load_srf)")
        M, dst_mask = srf_resampling_matrix(cube.wavelengths, cube.fwhm, cube.band_mask, srf)
        dst_wl = (
            srf.centroids()
            if target_wavelengths is None
            else np.asarray(target_wavelengths, dtype=np.float64)
        )
        _check("target_wavelengths", dst_wl, len(srf.names))
        dst_fwhm = target_fwhm
    else:
        if target_wavelengths is None:
            raise ValueError(f"method={method!r} needs target_wavelengths")
        dst_wl = np.asarray(target_wavelengths, dtype=np.float64)
        dst_fwhm = np.full(dst_wl.shape, median_spacing(dst_wl)) if target_fwhm is None else target_fwhm
        M, dst_mask = resampling_matrix(cube.wavelengths, cube.fwhm, cube.band_mask, dst_wl, dst_fwhm, method)
    # Only contributing bands enter the product, so NaN in a bad band cannot leak through a zero weight.
    used = np.flatnonzero(M.any(axis=0))
    data = np.einsum("ij,jhw->ihw", M[:, used].astype(np.float32), cube.data[used], optimize=True)
    prov = {**cube.provenance, "resampled_from": cube.bands, "resample": method}
    return Cube(data, dst_wl, fwhm=dst_fwhm, valid=cube.valid, band_mask=dst_mask, provenance=prov)
