"""Small building blocks shared by the CSAKD model families."""

from __future__ import annotations

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
