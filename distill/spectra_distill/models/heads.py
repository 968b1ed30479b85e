"""Reconstruction head, CSAKD Sec. 3.4."""

from __future__ import annotations

import math

import torch
from torch import nn

from spectra_distill.models.layers import conv1x1, conv3x3, lrelu


class FusionHead(nn.Module):
    """Fused features -> HR-HSI: 3x3 conv nf->B + LeakyReLU(0.2), then 3x3 conv B->B without bias.

    Args:
        nf: Feature channels.
        hsi_bands: B, output bands.
        groups: Groups of the first conv (must divide nf and B).
        out_groups: Groups of the second conv (must divide B).
        rank: If > 0, the second conv becomes a 1x1 conv B->rank then a 3x3 conv rank->B, both without
            bias: 10 * rank * B weights instead of 9 * B^2 / out_groups. Unlike grouping, every output band
            still sees every band; at B = 206 and rank 32 that is 66k weights where the full conv has 382k.
            Not in the paper; `out_groups` must then be 1.
        hidden: If > 0, the first conv maps to this many channels and the second conv (3x3, no bias) maps
            them to B: 9 * hidden * (nf + B) weights, and no B-channel activation at full resolution. Not in
            the paper; `out_groups` must be 1 and `rank` 0.

    Shape:
        (N, nf, H, W) -> (N, B, H, W), in the network's [-1, 1] range
    """

    def __init__(
        self, nf: int, hsi_bands: int, groups: int = 1, out_groups: int = 1, rank: int = 0, hidden: int = 0
    ) -> None:
        super().__init__()
        width = hidden or hsi_bands
        if nf % groups or width % groups:
            raise ValueError(f"head_groups={groups} must divide nf={nf} and the head's width {width}")
        if hsi_bands % out_groups:
            raise ValueError(f"head_out_groups={out_groups} must divide hsi_bands={hsi_bands}")
        if rank < 0 or (rank and out_groups != 1):
            raise ValueError(f"head_rank={rank} must be >= 0, and head_out_groups 1 when it is > 0")
        if hidden < 0 or (hidden and (rank or out_groups != 1)):
            raise ValueError(f"head_hidden={hidden} must be >= 0, and head_rank 0, head_out_groups 1 with it")
        # built in forward order, so seeded initial weights match those of heads without a rank
        first = conv3x3(nf, width, groups=groups)
        mix: nn.Module
        if rank:
            mix = nn.Sequential(conv1x1(hsi_bands, rank, bias=False), conv3x3(rank, hsi_bands, bias=False))
        else:
            mix = conv3x3(width, hsi_bands, groups=out_groups, bias=False)
        self.body = nn.Sequential(first, lrelu(), mix)

    @property
    def reach(self) -> int:
        """Pixels on each side that an output pixel sees beyond itself: only this many of a frame around the
        features change the pixels inside it."""
        return sum((m.kernel_size[0] - 1) // 2 for m in self.body.modules() if isinstance(m, nn.Conv2d))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.body(features)

    @torch.no_grad()
    def scale_detail(self, gain: float) -> None:
        """Multiply the head's output by `gain`, exactly, by scaling its last conv (which has no bias).

        The exported graph is unchanged; `evaluate.calibration` chooses the gain on validation regions.

        Raises:
            ValueError: a gain that is not finite and >= 0.
        """
        if not (math.isfinite(gain) and gain >= 0):
            raise ValueError(f"detail gain must be finite and >= 0; got {gain}")
        last = self.body[-1][-1] if isinstance(self.body[-1], nn.Sequential) else self.body[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is None
        last.weight.mul_(gain)
