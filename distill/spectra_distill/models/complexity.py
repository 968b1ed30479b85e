"""Parameter and multiply-accumulate counts, computed on the meta device (no memory, no compute)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from spectra_distill.models.net import FusionNet, FusionNetConfig


@dataclass(frozen=True)
class Complexity:
    """Counts for one forward pass.

    Attributes:
        params: Trainable parameters.
        macs: Multiply-accumulates (FLOPs / 2, as ptflops and the paper count them) of the convs and
            matrix products; resampling, activations and element-wise ops are not counted.
        hr_pixels: N * H * W of the output the count refers to.
    """

    params: int
    macs: int
    hr_pixels: int

    @property
    def macs_per_hr_pixel(self) -> float:
        return self.macs / self.hr_pixels


def measure_complexity(config: FusionNetConfig, lr_height: int, lr_width: int, batch: int = 1) -> Complexity:
    """Count parameters and MACs of a FusionNet at an LR-HSI size of lr_height x lr_width.

    The model is built on the meta device, so even the paper teacher at 256 x 256 costs nothing.
    """
    with torch.device("meta"):
        model = FusionNet(config)
        lrhsi = torch.empty(batch, config.hsi_bands, lr_height, lr_width)
        hrmsi = torch.empty(batch, config.msi_bands, lr_height * config.scale, lr_width * config.scale)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(lrhsi, hrmsi)
    params = sum(p.numel() for p in model.parameters())
    hr_pixels = batch * lr_height * lr_width * config.scale**2
    return Complexity(params=params, macs=counter.get_total_flops() // 2, hr_pixels=hr_pixels)
