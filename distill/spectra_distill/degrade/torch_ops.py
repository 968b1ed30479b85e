"""Torch batch versions of the degradation, for on-the-fly use on GPU tensors.

They implement the same formulas as :mod:`~spectra_distill.degrade.psf`, :mod:`~.srf` and :mod:`~.noise`
(same taps, same reflect padding, same alignment); ``tests/degrade/test_torch_ops.py`` checks they match the
NumPy versions within 1e-5. They accumulate in float64 like the NumPy versions; in float32 on a GPU,
cuDNN's default TF32 convolutions (10-bit mantissa) would miss that tolerance. The cost is negligible next
to the network.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from spectra_distill.degrade.psf import GaussianPSF, check_divisible, check_parity, check_scale, pad_amount
from spectra_distill.degrade.srf import SRFMatrix
from spectra_distill.errors import BandCountError, NonFiniteError


def spatial_degrade_torch(hr: torch.Tensor, scale: int, psf: GaussianPSF) -> torch.Tensor:
    """Blur (reflect padding) + decimation of a batch.

    Shape:
        (N, C, H, W) -> (N, C, H/s, W/s), same dtype and device.
    """
    check_scale(scale)
    check_parity(psf, scale)
    if hr.ndim != 4:
        raise ValueError(f"spatial_degrade_torch needs (N, C, H, W); got shape {tuple(hr.shape)}")
    n, c, h, w = hr.shape
    check_divisible(h, w, scale, "HR batch")
    taps = torch.as_tensor(psf.taps(), dtype=torch.float64, device=hr.device)
    pad = pad_amount(psf, scale)
    x = hr.reshape(n * c, 1, h, w).double()
    if pad > 0:
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    elif pad < 0:
        x = x[:, :, -pad : h + pad, -pad : w + pad]
    x = F.conv2d(x, taps.view(1, 1, -1, 1), stride=(scale, 1))
    x = F.conv2d(x, taps.view(1, 1, 1, -1), stride=(1, scale))
    return x.reshape(n, c, h // scale, w // scale).to(hr.dtype)


def srf_project_torch(hsi: torch.Tensor, srf: SRFMatrix) -> torch.Tensor:
    """HR-MSI from an HR-HSI batch.

    Shape:
        (N, B, H, W) -> (N, b, H, W).
    """
    if hsi.ndim != 4 or hsi.shape[1] != srf.hsi_bands:
        raise BandCountError(
            f"SRF '{srf.preset}' is built for {srf.hsi_bands} HSI bands; got a batch of shape "
            f"{tuple(hsi.shape)}"
        )
    m = torch.as_tensor(srf.matrix, dtype=torch.float64, device=hsi.device)
    return torch.einsum("jb,nbhw->njhw", m, hsi.double()).to(hsi.dtype)


def add_awgn_torch(
    x: torch.Tensor,
    snr_db: float,
    generator: torch.Generator | None = None,
    band_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """White Gaussian noise at ``snr_db`` with the signal power measured per sample (over valid bands).

    Shape:
        (N, B, H, W) -> (N, B, H, W); ``band_mask`` (B,) or (N, B) bool.
    """
    if not torch.isfinite(x).all():
        raise NonFiniteError("Input to add_awgn_torch holds NaN/Inf values")
    n, b = x.shape[:2]
    weight = torch.ones(n, b, device=x.device, dtype=x.dtype)
    if band_mask is not None:
        weight = weight * band_mask.to(device=x.device, dtype=x.dtype).expand(n, b)
    per_band = (x.double() ** 2).mean(dim=(2, 3))
    power = (per_band * weight.double()).sum(1) / weight.double().sum(1).clamp_min(1.0)
    sigma = torch.sqrt(power / 10.0 ** (snr_db / 10.0)).to(x.dtype)
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + noise * sigma.view(n, 1, 1, 1) * weight.view(n, b, 1, 1)


RESIZE_MODES = ("bicubic", "area")


def resize_down(hr: np.ndarray, scale: int, mode: str) -> np.ndarray:
    """(..., H/s, W/s) float32: `hr` resized by 1/s the way image libraries do it.

    `torch.nn.functional.interpolate`, antialiased, half-pixel centres ('area' is the s x s block mean). LR
    pixels sit on the block middles as in :func:`~spectra_distill.degrade.psf.spatial_degrade`, but the bicubic
    kernel is 4 s px wide with negative lobes.
    """
    check_scale(scale)
    if mode not in RESIZE_MODES:
        raise ValueError(f"Unknown resize mode {mode!r}; known: {', '.join(RESIZE_MODES)}")
    x = torch.from_numpy(np.ascontiguousarray(hr, dtype=np.float64))
    shape = x.shape
    x = x.reshape(-1, 1, *shape[-2:])
    options = {"antialias": True, "align_corners": False} if mode == "bicubic" else {}
    y = F.interpolate(x, scale_factor=1 / scale, mode=mode, **options)
    return y.reshape(*shape[:-2], *y.shape[-2:]).numpy().astype(np.float32)
