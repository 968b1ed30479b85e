"""Reconstruction head, CSAKD Sec. 3.4."""

from __future__ import annotations

import torch
from torch import nn

from spectra_distill.models.layers import conv3x3, lrelu


class FusionHead(nn.Module):
    """Fused features -> HR-HSI: 3x3 conv nf->B + LeakyReLU(0.2), then 3x3 conv B->B without bias.

    Args:
        nf: Feature channels.
        hsi_bands: B, output bands.
        groups: Groups of the first conv (must divide nf and B).
        out_groups: Groups of the second conv (must divide B).

    Shape:
        (N, nf, H, W) -> (N, B, H, W), in the network's [-1, 1] range
    """

    def __init__(self, nf: int, hsi_bands: int, groups: int = 1, out_groups: int = 1) -> None:
        super().__init__()
        if nf % groups or hsi_bands % groups:
            raise ValueError(f"head_groups={groups} must divide nf={nf} and hsi_bands={hsi_bands}")
        if hsi_bands % out_groups:
            raise ValueError(f"head_out_groups={out_groups} must divide hsi_bands={hsi_bands}")
        self.body = nn.Sequential(
            conv3x3(nf, hsi_bands, groups=groups),
            lrelu(),
            conv3x3(hsi_bands, hsi_bands, groups=out_groups, bias=False),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.body(features)
