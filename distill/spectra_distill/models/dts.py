"""Dual Two-Streamed (DTS) body, CSAKD Sec. 3.1: two joint streams and two distinct streams."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from spectra_distill.models.clra import CLRAGroup
from spectra_distill.models.layers import conv3x3, lrelu, upsample


class Streams(NamedTuple):
    """The four stream features, all (N, nf, H, W) at the HR size.

    The field order is the fusion's x1..x4: HSI, MSI, joint LR, joint HR.
    """

    hsi: torch.Tensor
    msi: torch.Tensor
    joint_lr: torch.Tensor
    joint_hr: torch.Tensor


class _Stream(nn.Sequential):
    """Entry conv + LeakyReLU, then a CLRA group."""

    def __init__(self, in_ch: int, nf: int, gc: int, num_blocks: int, groups: int, res_scale: float) -> None:
        super().__init__(conv3x3(in_ch, nf), lrelu(), CLRAGroup(nf, gc, num_blocks, groups, res_scale))


class DualTwoStreamBody(nn.Module):
    """The four feature streams of CSAKD.

    1. joint HR: bilinear-upsampled LR-HSI concatenated with the HR-MSI, at H x W (with `hsi_reduce`, the
       LR-HSI is first mapped to that many channels by a 1x1 conv at h x w);
    2. joint LR: bicubic-downsampled HR-MSI concatenated with the LR-HSI, at h x w, then nearest up;
    3. MSI: the HR-MSI alone, at H x W;
    4. HSI: the LR-HSI alone, at h x w, then nearest up.

    Resampling uses `scale_factor` (never a size read from a tensor) so the exported ONNX graph keeps
    dynamic spatial axes.

    Args:
        hsi_bands: B, bands of the LR-HSI.
        msi_bands: b, bands of the HR-MSI.
        scale: s, with H = s * h.
        nf: Feature channels of every stream.
        gc: Growth channels of the CLRA blocks.
        num_blocks: CLRA blocks per stream as (joint_hr, joint_lr, msi, hsi); 0 = conv only.
        hsi_groups: Conv groups in the HSI stream's blocks (the paper's student uses nf // 2).
        res_scale: Residual scaling of the blocks.
        hsi_reduce: If > 0, the joint HR stream upsamples a 1x1 conv of the LR-HSI to this many channels
            instead of all B bands. Not in the paper: at 206 bands the entry conv over B + b channels at
            full resolution and the upsampling of every band were a large part of the fuse graph's time
            (``options/README.md``).

    Shape:
        lrhsi (N, B, h, w), hrmsi (N, b, s*h, s*w) in the network's [-1, 1] range
        -> Streams of four (N, nf, s*h, s*w)
    """

    def __init__(
        self,
        hsi_bands: int,
        msi_bands: int,
        scale: int = 4,
        nf: int = 64,
        gc: int = 32,
        num_blocks: tuple[int, int, int, int] = (1, 1, 1, 1),
        hsi_groups: int = 1,
        res_scale: float = 0.2,
        hsi_reduce: int = 0,
    ) -> None:
        super().__init__()
        n_joint_hr, n_joint_lr, n_msi, n_hsi = num_blocks
        joint = hsi_bands + msi_bands
        self.scale = scale
        self.reduce = nn.Conv2d(hsi_bands, hsi_reduce, kernel_size=1) if hsi_reduce else nn.Identity()
        self.joint_hr = _Stream((hsi_reduce or hsi_bands) + msi_bands, nf, gc, n_joint_hr, 1, res_scale)
        self.joint_lr = _Stream(joint, nf, gc, n_joint_lr, 1, res_scale)
        self.msi = _Stream(msi_bands, nf, gc, n_msi, 1, res_scale)
        self.hsi = _Stream(hsi_bands, nf, gc, n_hsi, hsi_groups, res_scale)

    def forward(self, lrhsi: torch.Tensor, hrmsi: torch.Tensor) -> Streams:
        s = float(self.scale)
        hsi_up = upsample(self.reduce(lrhsi), self.scale, "bilinear")
        msi_down = F.interpolate(hrmsi, scale_factor=1.0 / s, mode="bicubic", align_corners=False)
        joint_hr = self.joint_hr(torch.cat([hsi_up, hrmsi], dim=1))
        joint_lr = F.interpolate(self.joint_lr(torch.cat([msi_down, lrhsi], dim=1)), scale_factor=s)
        msi = self.msi(hrmsi)
        hsi = F.interpolate(self.hsi(lrhsi), scale_factor=s)
        return Streams(hsi=hsi, msi=msi, joint_lr=joint_lr, joint_hr=joint_hr)
