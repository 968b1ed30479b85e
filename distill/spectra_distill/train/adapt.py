"""Adaptation without ground truth: fine-tune a student on a user's own LR-HSI + HR-MSI captures.

Two self-supervised signals, both computable from the captures alone with the card's sensor model:

* reduced resolution (Wald): degrade both inputs by the scale (card PSF, decimation) and ask the network to
  recover the captured LR-HSI from them; the LR-HSI is a real, noise-bearing target at that resolution;
* full-resolution consistency: the output, re-blurred and decimated, must match the LR-HSI, and projected
  through the card's SRF must match the HR-MSI.

The loss never sees a high-resolution truth, so a scene adapted on can still be scored out of sample against
its truth (the evaluation in `commands/adapt.py --score` does exactly that).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from spectra_distill.degrade.psf import make_psf
from spectra_distill.models.net import FusionNet
from spectra_distill.models.physics import Degradation


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of one adaptation, fixed before any scene is seen (nothing here is tuned per scene).

    The defaults were chosen on the validation regions of the 206-band training scenes (`adapt --evaluate
    --on val`; results/distill/adapt/val-sweep.md), never on the test scenes.

    Attributes:
        steps: Optimiser steps (at most; see max_seconds).
        lr: Adam learning rate.
        max_seconds: Wall-clock budget of the whole adaptation, both consistency measurements included: the
            steps stop once the next one could cross it (0 = no budget), so one capture adapts in under two
            minutes on a 2-core CPU whatever its size.
        consistency_weight: Weight of the full-resolution consistency loss against the reduced-resolution one.
        seed: Seed of the crop sampler.
        crop_lr: LR-HSI crop side (pixels) per step at full resolution; the whole capture when smaller.
    """

    steps: int = 120
    lr: float = 1e-4
    max_seconds: float = 110.0
    consistency_weight: float = 1.0
    seed: int = 0
    crop_lr: int = 32


@dataclass
class AdaptReport:
    """What an adaptation did; recorded in the adapted model's card.

    Consistency is PSNR (dB, peak = per-band max of the reference input) of the re-degraded output against the
    LR-HSI (spatial) and of its SRF projection against the HR-MSI (spectral), on the capture's centre
    (at most ``REPORT_LR`` LR pixels square).
    """

    config: dict[str, Any]
    seconds: float
    steps_done: int
    loss_first: float
    loss_last: float
    consistency_before: dict[str, float]
    consistency_after: dict[str, float]


def sensor_of(card: dict[str, Any], band_valid: np.ndarray | None = None) -> Degradation:
    """The card's PSF, scale and SRF as a torch module (the same operators as the in-graph physics).

    With `band_valid`, the SRF rows keep only the valid bands and are renormalised, as the SDK maps an HR-MSI
    onto a partially covered grid (`srfOnValidBands`).
    """
    srf = torch.as_tensor(card["msi"]["srf"], dtype=torch.float64)
    if band_valid is not None:
        srf = srf * torch.as_tensor(band_valid, dtype=torch.float64)
        srf = srf / srf.sum(dim=1, keepdim=True).clamp_min(1e-12)
    scale = int(card["scale"])
    psf = make_psf(scale, int(card["psf"]["kernel_size"]), float(card["psf"]["sigma"]))
    sensor = Degradation(srf.shape[1], srf.shape[0], scale, int(card["psf"]["kernel_size"]))
    sensor.set(srf, torch.as_tensor(psf.taps()))
    return sensor


def _psnr(x: torch.Tensor, ref: torch.Tensor) -> float:
    peak = ref.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    mse = (((x - ref) / peak) ** 2).mean()
    return float(-10 * torch.log10(mse.clamp_min(1e-20)))


#: Side (LR pixels) of the centre crop the consistency report is measured on: a whole large capture would cost
#: as much as the adaptation itself (Houston's 512 x 512 HR at 31 bands: tens of seconds per measurement).
REPORT_LR = 64


@torch.no_grad()
def consistency(
    model: FusionNet, sensor: Degradation, lr: torch.Tensor, msi: torch.Tensor, valid: torch.Tensor
) -> dict[str, float]:
    s = msi.shape[-1] // lr.shape[-1]
    h, w = lr.shape[-2:]
    ch, cw = min(h, REPORT_LR), min(w, REPORT_LR)
    y, x = (h - ch) // 2, (w - cw) // 2
    lr, msi = lr[..., y : y + ch, x : x + cw], msi[..., y * s : (y + ch) * s, x * s : (x + cw) * s]
    out = model(lr, msi).cube * valid
    return {
        "spatial": _psnr(sensor.degrade(out)[:, valid[0, :, 0, 0]], lr[:, valid[0, :, 0, 0]]),
        "spectral": _psnr(sensor.project(out), msi),
    }


def adapt(
    model: FusionNet,
    card: dict[str, Any],
    lrhsi: np.ndarray,
    hrmsi: np.ndarray,
    cfg: AdaptConfig = AdaptConfig(),
    progress: bool = True,
    band_valid: np.ndarray | None = None,
) -> tuple[FusionNet, AdaptReport]:
    """Fine-tune a copy of `model` on one capture (LR-HSI (B, h, w) + HR-MSI (b, s*h, s*w), physical units).

    `band_valid` (B,) marks the model bands the capture covers (a partially covered grid, as the SDK's
    `toModelGrid` fills it): the others hold zeros and are left out of every loss and of the SRF.

    Raises:
        ValueError: shapes that disagree with the card, or a capture too small to reduce by the scale.
    """
    s = int(card["scale"])
    bands, h, w = lrhsi.shape
    if band_valid is not None and (band_valid.shape != (bands,) or not band_valid.any()):
        raise ValueError(
            f"band_valid must be {bands} flags with at least one true; got shape {band_valid.shape}"
        )
    if hrmsi.shape[1:] != (h * s, w * s):
        raise ValueError(
            f"HR-MSI is {hrmsi.shape[1]}x{hrmsi.shape[2]}; expected {h * s}x{w * s} (LR-HSI x scale {s})"
        )
    # as the exported card's min_lr_size: the mirror frame needs border_pad LR pixels
    m = 1
    floor = max(1, model.config.border_pad)
    # the reduced pair (LR' = LR / s) must still be a valid model input
    unit = s * m * max(1, -(-floor // m))
    if h < unit or w < unit:
        raise ValueError(
            f"a {h}x{w} LR-HSI is too small to adapt on: reducing it by the scale {s} must leave at least "
            f"{unit // s} px (the model's min_lr_size {floor}, in multiples of {m}); "
            f"capture at least {unit}x{unit} LR px"
        )
    # whole units only; the rest of the capture is not used
    h, w = h // (s * m) * (s * m), w // (s * m) * (s * m)
    lrhsi, hrmsi = lrhsi[:, :h, :w], hrmsi[:, : h * s, : w * s]
    sensor = sensor_of(card, band_valid)
    valid = (
        torch.ones(1, bands, 1, 1)
        if band_valid is None
        else torch.as_tensor(band_valid, dtype=torch.float32).view(1, -1, 1, 1)
    )
    valid = valid.bool()
    lr = torch.from_numpy(np.ascontiguousarray(lrhsi, dtype=np.float32))[None]
    msi = torch.from_numpy(np.ascontiguousarray(hrmsi, dtype=np.float32))[None]
    with torch.no_grad():
        lr_red, msi_red = sensor.degrade(lr), sensor.degrade(msi)
    tuned = copy.deepcopy(model).train()
    t0 = time.perf_counter()
    before = consistency(tuned.eval(), sensor, lr, msi, valid)
    # the closing measurement costs as much again, so the budget leaves room for it
    closing = time.perf_counter() - t0
    tuned.train()
    opt = torch.optim.Adam([p for p in tuned.parameters() if p.requires_grad], lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    # crops on the reduced grid must be whole LR' pixels and stay >= min_lr_size after reduction
    c = max(min(max(cfg.crop_lr, unit), h, w) // (s * m) * (s * m), unit)
    losses: list[float] = []
    for _ in tqdm(range(cfg.steps), desc="adapt", unit="step", disable=not progress):
        step_start = time.perf_counter()
        y, x = (int(rng.integers(0, (n - c) // (s * m) + 1)) * s * m for n in (h, w))
        lr_c, msi_c = lr[..., y : y + c, x : x + c], msi[..., y * s : (y + c) * s, x * s : (x + c) * s]
        ry, rx, rc = y // s, x // s, c // s
        reduced = tuned(
            lr_red[..., ry : ry + rc, rx : rx + rc],
            msi_red[..., ry * s : (ry + rc) * s, rx * s : (rx + rc) * s],
        ).cube
        b = valid[0, :, 0, 0]
        loss = F.l1_loss(reduced[:, b], lr_c[:, b])
        if cfg.consistency_weight > 0:
            out = tuned(lr_c, msi_c).cube * valid
            loss = loss + cfg.consistency_weight * (
                F.l1_loss(sensor.degrade(out)[:, b], lr_c[:, b]) + F.l1_loss(sensor.project(out), msi_c)
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        now = time.perf_counter()
        if cfg.max_seconds > 0 and now - t0 + (now - step_start) + closing > cfg.max_seconds:
            break
    tuned.eval()
    after = consistency(tuned, sensor, lr, msi, valid)
    report = AdaptReport(
        config=asdict(cfg),
        seconds=time.perf_counter() - t0,
        steps_done=len(losses),
        loss_first=losses[0] if losses else float("nan"),
        loss_last=float(np.mean(losses[-5:])) if losses else float("nan"),
        consistency_before=before,
        consistency_after=after,
    )
    return tuned, report
