"""Gaussian point spread function and the blur + decimation step of the Wald protocol.

Default PSF for scale ``s``: a Gaussian with ``sigma = s / 2`` HR pixels sampled on a ``2s x 2s`` grid
(8 x 8, sigma 2 at s = 4; 16 x 16, sigma 4 at s = 8). Source: the "8 x 8 Gaussian, standard deviation 2"
blur used to simulate LR-HSIs in the HSI/MSI fusion literature that follows Wald's protocol
(e.g. Simoes et al., "A Convex Formulation for Hyperspectral Image Superresolution via Subspace-Based
Regularization" (HySure), IEEE TGRS 2015; Dong et al., NSSR, IEEE TIP 2016). Why sigma = s/2: the Gaussian's
gain at the LR Nyquist frequency 1/(2s) is exp(-pi^2 / 8) = 0.29 for every s, close to the 0.3 gain of
typical multispectral sensor MTFs used in the pansharpening Wald protocol (Aiazzi et al., MTF-tailored GLP).

Alignment: LR pixel ``i`` is centred on the middle of HR block ``[i*s, (i+1)*s)``, like block averaging,
so half-pixel-convention resizers (``align_corners=False``) line LR and HR up exactly. This needs a kernel
size with the parity of ``s``; the HR cube is reflect-padded (mirror without repeating the edge pixel) by
``(kernel_size - s) / 2`` pixels on every side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spectra_distill.errors import NonFiniteError, ScaleError

SUPPORTED_SCALES = (2, 4, 8)


@dataclass(frozen=True)
class GaussianPSF:
    """A separable, normalised Gaussian kernel.

    Attributes:
        kernel_size: Taps per axis; must have the parity of the scale it is used with.
        sigma: Standard deviation in HR pixels.
    """

    kernel_size: int
    sigma: float

    def __post_init__(self) -> None:
        if self.kernel_size < 1:
            raise ValueError(f"PSF kernel_size must be >= 1; got {self.kernel_size}")
        if not self.sigma > 0:
            raise ValueError(f"PSF sigma must be > 0; got {self.sigma}")

    def taps(self) -> np.ndarray:
        """1-D weights (float64, sum 1), symmetric about the kernel centre."""
        offsets = np.arange(self.kernel_size, dtype=np.float64) - (self.kernel_size - 1) / 2.0
        w = np.exp(-0.5 * (offsets / self.sigma) ** 2)
        return w / w.sum()

    def kernel2d(self) -> np.ndarray:
        """The (kernel_size, kernel_size) kernel, outer product of :meth:`taps`, sum 1."""
        t = self.taps()
        return np.outer(t, t)

    def as_card(self) -> dict[str, object]:
        """The model-card ``psf`` entry."""
        return {"type": "gaussian", "sigma": float(self.sigma), "kernel_size": int(self.kernel_size)}


def default_psf(scale: int) -> GaussianPSF:
    """The documented default: kernel 2s x 2s, sigma s/2 (8 x 8, sigma 2 at s = 4)."""
    check_scale(scale)
    return GaussianPSF(kernel_size=2 * scale, sigma=scale / 2.0)


def make_psf(scale: int, kernel_size: int | None = None, sigma: float | None = None) -> GaussianPSF:
    """The default PSF for ``scale`` with ``kernel_size`` / ``sigma`` overridden when given."""
    base = default_psf(scale)
    psf = GaussianPSF(
        kernel_size=base.kernel_size if kernel_size is None else int(kernel_size),
        sigma=base.sigma if sigma is None else float(sigma),
    )
    check_parity(psf, scale)
    return psf


def check_scale(scale: int) -> None:
    if scale not in SUPPORTED_SCALES:
        raise ValueError(f"Unknown scale {scale}; supported: {', '.join(map(str, SUPPORTED_SCALES))}")


def check_parity(psf: GaussianPSF, scale: int) -> None:
    if (psf.kernel_size - scale) % 2:
        raise ValueError(
            f"PSF kernel_size {psf.kernel_size} and scale {scale} must have the same parity so the kernel "
            f"is centred on each LR pixel (e.g. kernel_size {2 * scale})"
        )


def check_divisible(height: int, width: int, scale: int, what: str = "HR image") -> None:
    """Raise ScaleError unless both sizes are multiples of ``scale``."""
    if height % scale or width % scale:
        raise ScaleError(f"{what} is {height} x {width}; both sizes must be multiples of the scale {scale}")


def pad_amount(psf: GaussianPSF, scale: int) -> int:
    """Pixels of reflect padding per side (negative: that many edge pixels are never reached)."""
    return (psf.kernel_size - scale) // 2


def _reflect_pad_axis(x: np.ndarray, pad: int, axis: int) -> np.ndarray:
    if pad <= 0:
        sl = [slice(None)] * x.ndim
        sl[axis] = slice(-pad, x.shape[axis] + pad)
        return x[tuple(sl)]
    if pad >= x.shape[axis]:
        raise ScaleError(f"Image of size {x.shape[axis]} is too small for a reflect pad of {pad} pixels")
    widths = [(0, 0)] * x.ndim
    widths[axis] = (pad, pad)
    return np.pad(x, widths, mode="reflect")


def _blur_decimate_axis(x: np.ndarray, taps: np.ndarray, scale: int, pad: int, axis: int) -> np.ndarray:
    n_out = x.shape[axis] // scale
    xp = _reflect_pad_axis(x, pad, axis)
    out = np.zeros(x.shape[:axis] + (n_out,) + x.shape[axis + 1 :], dtype=np.float64)
    for k, w in enumerate(taps):
        sl = [slice(None)] * x.ndim
        sl[axis] = slice(k, k + scale * (n_out - 1) + 1, scale)
        out += w * xp[tuple(sl)]
    return out


def spatial_degrade(hr: np.ndarray, scale: int, psf: GaussianPSF | None = None) -> np.ndarray:
    """Blur with the PSF (reflect padding) and keep one pixel per ``scale x scale`` block.

    Args:
        hr: (..., H, W) array, any float dtype, finite.
        scale: Decimation factor s; H and W must be multiples of it.
        psf: Defaults to :func:`default_psf` (scale).

    Returns:
        (..., H/s, W/s) float32.

    Raises:
        ScaleError: H or W not divisible by ``scale``.
        NonFiniteError: ``hr`` holds NaN or Inf.
    """
    check_scale(scale)
    psf = default_psf(scale) if psf is None else psf
    check_parity(psf, scale)
    hr = np.asarray(hr)
    if hr.ndim < 2:
        raise ValueError(f"spatial_degrade needs (..., H, W); got shape {hr.shape}")
    check_divisible(hr.shape[-2], hr.shape[-1], scale)
    if not np.all(np.isfinite(hr)):
        raise NonFiniteError(f"spatial_degrade input holds {int((~np.isfinite(hr)).sum())} NaN/Inf values")
    taps = psf.taps()
    return separable_degrade(hr, scale, taps, taps)


def separable_degrade(hr: np.ndarray, scale: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """:func:`spatial_degrade` with its own taps per axis (the same length, of the scale's parity): the blur
    the statistics graph finds for a pair sampled off the middle of each block (`FusionNet.frame_blur`), as
    the SDK's ``spatialDegrade`` with a ``SeparablePsf``. ``hr`` (..., H, W) -> (..., H/s, W/s) float32."""
    if len(rows) != len(cols) or (len(rows) - scale) % 2:
        raise ValueError(
            f"row and column taps must be one length of the scale's parity; got {len(rows)}, {len(cols)}"
        )
    check_divisible(hr.shape[-2], hr.shape[-1], scale)
    pad = (len(rows) - scale) // 2
    x = np.asarray(hr).astype(np.float64, copy=False)
    x = _blur_decimate_axis(x, np.asarray(rows, dtype=np.float64), scale, pad, axis=x.ndim - 2)
    x = _blur_decimate_axis(x, np.asarray(cols, dtype=np.float64), scale, pad, axis=x.ndim - 1)
    return x.astype(np.float32)


def blur_sample(hr: np.ndarray, sigma: float, scale: int, start: int) -> np.ndarray:
    """The other common simulation: a Gaussian centred on every HR pixel (mirror edges, cut at 4 sigma), then
    HR pixels ``start + i * scale`` kept (``gaussian_filter(hr, sigma)[..., start::scale, start::scale]``).

    Unlike :func:`spatial_degrade`, LR pixel ``i`` then sits ``start - (scale - 1) / 2`` HR px from the middle
    of its block; this is how users outside the project often make a pair, so the robustness tables use it.
    """
    check_scale(scale)
    if not 0 <= start < scale:
        raise ValueError(f"start must be in [0, {scale}); got {start}")
    x = np.asarray(hr, dtype=np.float64)
    x = ndimage.gaussian_filter1d(x, sigma, axis=-2, mode="mirror", truncate=4.0)
    x = ndimage.gaussian_filter1d(x, sigma, axis=-1, mode="mirror", truncate=4.0)
    return x[..., start::scale, start::scale].astype(np.float32)


def degrade_valid_mask(valid: np.ndarray, scale: int, psf: GaussianPSF) -> np.ndarray:
    """LR validity: an LR pixel is valid only if every HR pixel under its kernel footprint is valid."""
    invalid = (~np.asarray(valid, dtype=bool)).astype(np.float64)
    box = GaussianPSF(kernel_size=psf.kernel_size, sigma=1e6)  # flat taps: any invalid pixel in the footprint
    return spatial_degrade(invalid, scale, box) < 1e-9
