"""Cross-Layer Residual Aggregation (CLRA) blocks, CSAKD Sec. 3.2."""

from __future__ import annotations

import torch
from torch import nn

from spectra_distill.models.layers import conv3x3, init_scaled_kaiming, lrelu


class DenseSubBlock(nn.Module):
    """Five densely connected 3x3 convs; conv k sees the input and all earlier outputs.

    Args:
        nf: Feature channels in and out.
        gc: Growth channels of convs 1-4.
        groups: Conv groups (must divide nf and gc).
        res_scale: Residual scaling of the conv-5 output.

    Shape:
        (N, nf, H, W) -> (N, nf, H, W)
    """

    def __init__(self, nf: int = 64, gc: int = 32, groups: int = 1, res_scale: float = 0.2) -> None:
        super().__init__()
        if nf % groups or gc % groups:
            raise ValueError(f"groups={groups} must divide nf={nf} and gc={gc}")
        self.res_scale = res_scale
        self.growth = nn.ModuleList(conv3x3(nf + k * gc, gc, groups=groups) for k in range(4))
        self.fuse = conv3x3(nf + 4 * gc, nf, groups=groups)
        self.act = lrelu()
        init_scaled_kaiming([*self.growth, self.fuse], scale=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.growth:
            feats.append(self.act(conv(torch.cat(feats, dim=1))))
        return x + self.res_scale * self.fuse(torch.cat(feats, dim=1))


class CLRABlock(nn.Module):
    """Cross-Layer Residual Aggregation (CSAKD): three dense sub-blocks, x + res_scale * out.

    Args:
        nf: Feature channels in and out.
        gc: Growth channels per dense conv.
        groups: Conv groups; the student's HSI stream uses nf // 2.
        res_scale: Residual scaling (0.2 in the paper).

    Shape:
        (N, nf, H, W) -> (N, nf, H, W)
    """

    def __init__(self, nf: int = 64, gc: int = 32, groups: int = 1, res_scale: float = 0.2) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.body = nn.Sequential(*(DenseSubBlock(nf, gc, groups, res_scale) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class CLRAGroup(nn.Sequential):
    """A chain of `num_blocks` CLRA blocks; with zero blocks it is the identity (conv-only stream).

    Args:
        nf: Feature channels.
        gc: Growth channels.
        num_blocks: Number of CLRA blocks (0 allowed).
        groups: Conv groups inside the blocks.
        res_scale: Residual scaling.

    Shape:
        (N, nf, H, W) -> (N, nf, H, W)
    """

    def __init__(self, nf: int, gc: int, num_blocks: int, groups: int = 1, res_scale: float = 0.2) -> None:
        if num_blocks < 0:
            raise ValueError(f"num_blocks must be >= 0; got {num_blocks}")
        super().__init__(*(CLRABlock(nf, gc, groups, res_scale) for _ in range(num_blocks)))
