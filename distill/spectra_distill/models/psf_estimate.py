"""The camera's blur from one capture pair, and a physics network retargeted to it.

The host side of the SDK's `estimatePsfSigma` and `spectra retarget-psf`.

The LR-HSI projected through the SRF is the HR-MSI after the camera's blur and decimation, so the
Gaussian sigma whose blur of the HR-MSI fits it best (per-band gain and offset fitted) is the camera's.
Same search as the SDK: 0.5-4 px in 0.1 px steps, then 0.02 px around the best.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from spectra_distill.degrade.psf import GaussianPSF
from spectra_distill.models.net import FusionNet


def _misfit(blurred: torch.Tensor, target: torch.Tensor) -> float:
    """Relative RMS residual of `target` regressed band by band on `blurred` (gain and offset)."""
    x = blurred.flatten(1).double()
    y = target.flatten(1).double()
    xc = x - x.mean(dim=1, keepdim=True)
    yc = y - y.mean(dim=1, keepdim=True)
    vx = (xc * xc).sum(1)
    cxy = (xc * yc).sum(1)
    vy = (yc * yc).sum(1)
    residual = torch.where(vx > 0, vy - cxy * cxy / vx.clamp_min(1e-300), vy)
    return float(torch.sqrt(residual.clamp_min(0).sum() / (y * y).sum().clamp_min(1e-300)))


def _fit_inputs(model: FusionNet, lrhsi: np.ndarray, hrmsi: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The HR-MSI to blur and the target it must match: the LR-HSI through the model's SRF.

    Raises:
        ValueError: the network has no in-graph physics.
    """
    if model.physics is None:
        raise ValueError("this network has no in-graph physics (no SRF and PSF to fit against)")
    srf = model.physics.srf
    with torch.no_grad():
        lr = torch.from_numpy(np.ascontiguousarray(lrhsi, dtype=np.float32))[None]
        msi = torch.from_numpy(np.ascontiguousarray(hrmsi, dtype=np.float32))[None]
        # bands the LR-HSI does not cover are zeros: the SRF rows are renormalised over the covered ones,
        # as the SDK does (`srfOnValidBands`) and as an HR-MSI simulated from such a scene was made
        valid = (lr[0].flatten(1).abs().amax(dim=1) > 0).to(srf.dtype)
        srf = srf * valid[None, :]
        srf = torch.where(srf.sum(1, keepdim=True) > 0, srf / srf.sum(1, keepdim=True).clamp_min(1e-30), srf)
        return msi, F.conv2d(lr, srf[:, :, None, None])


def estimate_psf_sigma(
    model: FusionNet,
    lrhsi: np.ndarray,
    hrmsi: np.ndarray,
    low: float = 0.5,
    high: float = 4.0,
    step: float = 0.1,
) -> float:
    """Sigma (HR px) of the Gaussian blur that explains the pair best, with the model's SRF, scale and taps.

    Args:
        model: A network with in-graph physics (its SRF, scale and kernel size are used).
        lrhsi: (B, h, w) on the model grid.
        hrmsi: (b, s*h, s*w) on the model's MSI bands.

    Raises:
        ValueError: the network has no in-graph physics.
    """
    msi, target = _fit_inputs(model, lrhsi, hrmsi)
    deg = model.physics
    taps = deg.taps.numel()
    with torch.no_grad():
        probe = copy.deepcopy(deg)
        tried: dict[float, float] = {}

        def at(sigma: float) -> float:
            key = round(sigma, 3)
            if key not in tried:
                probe.taps.copy_(torch.as_tensor(GaussianPSF(taps, key).taps(), dtype=torch.float32))
                tried[key] = _misfit(probe.degrade(msi), target)
            return tried[key]

        best = low
        for sigma in np.arange(low, high + 1e-9, step):
            if at(float(sigma)) < at(best):
                best = round(float(sigma), 3)
        for sigma in np.arange(max(low, best - step), min(high, best + step) + 1e-9, step / 5):
            if at(float(sigma)) < at(best):
                best = round(float(sigma), 3)
    return best


def fit_psf_taps(model: FusionNet, lrhsi: np.ndarray, hrmsi: np.ndarray) -> np.ndarray:
    """Symmetric 1-D taps of any shape that explain the pair best (the SDK's ``fitPsfTaps``).

    The closed-form fit the statistics graph makes on every frame (`Degradation.fit_taps`), with the SRF
    renormalised over the bands the LR-HSI covers.

    Raises:
        ValueError: the network has no in-graph physics.
    """
    msi, target = _fit_inputs(model, lrhsi, hrmsi)
    deg = model.physics
    with torch.no_grad():
        framed = deg._framed(msi)
        taps = deg.fit_taps(target, framed.reshape(msi.shape[0], msi.shape[1], *framed.shape[-2:]))
    return taps[0].double().numpy()


def retargeted(model: FusionNet, blur: float | np.ndarray) -> FusionNet:
    """A copy of the network whose in-graph PSF is a Gaussian of `blur` px, or the given 1-D taps."""
    if model.physics is None:
        raise ValueError("this network has no in-graph physics")
    out = copy.deepcopy(model)
    k = out.physics.taps.numel()
    taps = GaussianPSF(k, float(blur)).taps() if np.isscalar(blur) else np.asarray(blur, dtype=np.float64)
    out.set_degradation(out.physics.srf.clone(), torch.as_tensor(taps))
    return out
