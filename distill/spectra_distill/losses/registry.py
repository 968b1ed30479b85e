"""Loss registry: each term registers under its class name, built from a `{type: ..., **kwargs}` block."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import torch
from torch import nn

Reduction = Literal["mean", "sum", "none"]
REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")
Target = Literal["gt", "teacher_cube", "teacher_features"]

LOSSES: dict[str, type[LossTerm]] = {}

T = TypeVar("T", bound="type[LossTerm]")


class LossTerm(nn.Module):
    """Base of every loss term: `weight * reduce(elementwise loss)`, with masked bands excluded.

    Subclasses set `target` (what the prediction is compared with: the ground truth, the teacher's cube or the
    teacher's fused features) and `short` (the name used in logs, e.g. `l_s_kd_feat`).

    Args:
        weight: Multiplies the reduced value.
        reduction: 'mean' (over the unmasked elements), 'sum' or 'none' (unreduced, masked entries zero).
    """

    target: Target = "gt"
    short: str = ""

    def __init__(self, weight: float = 1.0, reduction: Reduction = "mean") -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"Unknown reduction {reduction!r}; known: {', '.join(REDUCTIONS)}")
        self.weight = float(weight)
        self.reduction: Reduction = reduction

    def extra_repr(self) -> str:
        return f"weight={self.weight}, reduction={self.reduction!r}"


def register_loss(cls: T) -> T:
    """Class decorator: make a loss buildable by its class name."""
    if cls.__name__ in LOSSES:
        raise ValueError(f"Loss {cls.__name__!r} is already registered")
    LOSSES[cls.__name__] = cls
    return cls


def build_loss(spec: Mapping[str, Any]) -> LossTerm:
    """Build a registered loss from a config block; keys other than `type` become constructor kwargs.

    Raises:
        ValueError: missing/unknown `type` or a kwarg the loss does not take.
    """
    if "type" not in spec:
        raise ValueError(f"Loss block {dict(spec)} has no 'type'; known: {', '.join(sorted(LOSSES))}")
    name = spec["type"]
    if name not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}; known: {', '.join(sorted(LOSSES))}")
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    try:
        return LOSSES[name](**kwargs)
    except TypeError as exc:
        raise ValueError(f"Bad options for loss {name!r}: {exc}") from exc


def band_weights(band_mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """A (N, B, 1, 1) float mask broadcastable over `like` (N, B, H, W); all ones when there is no mask.

    Raises:
        ValueError: the mask has neither shape (B,) nor (N, B).
    """
    n, b = like.shape[:2]
    if band_mask is None:
        return like.new_ones(n, b, 1, 1)
    m = band_mask.to(device=like.device, dtype=like.dtype)
    if m.shape == (b,):
        m = m.expand(n, b)
    if m.shape != (n, b):
        raise ValueError(f"band_mask must have shape ({b},) or ({n}, {b}); got {tuple(band_mask.shape)}")
    return m.reshape(n, b, 1, 1)


def reduce_masked(values: torch.Tensor, weights: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """Reduce `values` over the entries where `weights` (broadcastable) is non-zero.

    'mean' divides by the number of unmasked entries, so masked bands neither add loss nor dilute it. A batch
    with every band masked yields 0 (not NaN), keeping the step finite.
    """
    weights = weights.expand_as(values)
    masked = values * weights
    if reduction == "none":
        return masked
    total = masked.sum()
    if reduction == "sum":
        return total
    return total / weights.sum().clamp_min(1.0)
