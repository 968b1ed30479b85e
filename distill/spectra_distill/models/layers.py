"""Small building blocks shared by the CSAKD model families."""

from __future__ import annotations

import math
from functools import cache

import torch
import torch.nn.functional as F
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


def _cubic(x: float, a: float = -0.75) -> float:
    x = abs(x)
    if x <= 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a if x < 2 else 0.0


@cache
def _phase_taps(scale: int, mode: str) -> torch.Tensor:
    """(s, 5): each output phase's weights on its 5 LR neighbours along one axis."""
    # plain Python until the end: built inside an ONNX trace, tensor arithmetic would be exported as graph ops
    taps = [[0.0] * 5 for _ in range(scale)]
    for phase in range(scale):
        offset = (phase + 0.5) / scale - 0.5  # half-pixel centres, in (-0.5, 0.5)
        i0 = math.floor(offset)
        t = offset - i0
        if mode == "bicubic":
            pairs = zip(range(i0 - 1, i0 + 3), (t + 1, t, 1 - t, 2 - t), strict=True)
            for m, d in pairs:
                taps[phase][m + 2] += _cubic(d)
        else:
            taps[phase][i0 + 2] += 1 - t
            taps[phase][i0 + 3] += t
    return torch.tensor(taps, dtype=torch.float64)


def upsample(x: torch.Tensor, scale: int, mode: str = "bicubic") -> torch.Tensor:
    """`F.interpolate(x, scale_factor=scale, mode=mode, align_corners=False)` as two 1-D convs.

    The same numbers (to float rounding): replicate padding is PyTorch's index clamping, and every output
    phase is a fixed 5-tap stencil of LR pixels along each axis. Each pass is a conv with one output channel
    per phase, interleaved into rows (then columns) by a transpose. onnxruntime's CPU Resize ran a 206-band
    cubic upsampling about 20 times slower. Against one 5 x 5 conv per phase and a DepthToSpace the two passes
    are 1.3-1.5 times faster on 22-40 px inputs and about 2 times on 64-160 px ones (one thread,
    `scripts/bench/graph_ops.py`, `results/bench/graph-ops.json`).

    Shape:
        (N, C, h, w) -> (N, C, s*h, s*w)
    """
    if mode not in ("bicubic", "bilinear"):
        raise ValueError(f"upsample mode {mode!r}; known: bicubic, bilinear")
    n, c, h, w = x.shape
    taps = _phase_taps(scale, mode).to(x)
    y = F.pad(x.reshape(n * c, 1, h, w), (0, 0, 2, 2), mode="replicate")
    y = F.conv2d(y, taps.view(scale, 1, 5, 1))  # (N*C, s, h, w): phase p of every row
    y = F.pad(y.transpose(1, 2).reshape(n * c, 1, h * scale, w), (2, 2, 0, 0), mode="replicate")
    y = F.conv2d(y, taps.view(scale, 1, 1, 5))  # (N*C, s, s*h, w): phase q of every column
    return y.permute(0, 2, 3, 1).reshape(n, c, h * scale, w * scale)


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
