"""Small building blocks shared by the CSAKD model families."""

from __future__ import annotations

import torch
from torch import nn

LRELU_SLOPE = 0.2


def conv3x3(in_ch: int, out_ch: int, groups: int = 1, bias: bool = True) -> nn.Conv2d:
    """3x3 convolution with 'same' zero padding.

    Shape:
        (N, in_ch, H, W) -> (N, out_ch, H, W)
    """
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, groups=groups, bias=bias)


def conv1x1(in_ch: int, out_ch: int, bias: bool = True) -> nn.Conv2d:
    """Pointwise convolution.

    Shape:
        (N, in_ch, H, W) -> (N, out_ch, H, W)
    """
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=bias)


def mirror_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last two dims by `pad` pixels mirrored about the image edge (NumPy's 'symmetric').

    Unlike 'reflect', the mirror line is the edge itself, so padding an LR image by p pixels and its HR
    counterpart by s * p covers the same ground on both grids. Built from slices, flips and concats,
    which export to ONNX with dynamic H and W.

    Raises:
        ValueError: `pad` exceeds the height or width.

    Shape:
        (..., H, W) -> (..., H + 2 * pad, W + 2 * pad)
    """
    if pad == 0:
        return x
    # an exported graph has no Python check; there the size is the caller's (the SDK's) to enforce
    if not torch.jit.is_tracing() and pad > min(x.shape[-2:]):
        raise ValueError(
            f"mirror padding of {pad} px needs an image of at least {pad} x {pad}; got {tuple(x.shape[-2:])}"
        )
    x = torch.cat([x[..., :pad, :].flip(-2), x, x[..., -pad:, :].flip(-2)], dim=-2)
    return torch.cat([x[..., :pad].flip(-1), x, x[..., -pad:].flip(-1)], dim=-1)


def lrelu() -> nn.LeakyReLU:
    """LeakyReLU(0.2), the activation used throughout the paper."""
    return nn.LeakyReLU(LRELU_SLOPE, inplace=True)


def init_scaled_kaiming(convs: list[nn.Conv2d], scale: float = 0.1) -> None:
    """Kaiming-normal weights multiplied by `scale`, zero bias (the paper's dense-block init).

    The small scale keeps each residual branch close to zero at the start, so deep stacks of
    aggregation blocks begin near the identity and train stably.
    """
    for conv in convs:
        nn.init.kaiming_normal_(conv.weight, a=0.0, mode="fan_in")
        conv.weight.data.mul_(scale)
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
