"""Pixel losses against the ground truth: smooth L1 and the band-wise (energy-normalised) smooth L1."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spectra_distill.losses.registry import LossTerm, Reduction, band_weights, reduce_masked, register_loss


def _check_pair(pred: torch.Tensor, target: torch.Tensor, name: str) -> None:
    if pred.ndim != 4 or pred.shape != target.shape:
        raise ValueError(
            f"{name}: prediction and target must both be (N, B, H, W) of one shape; got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )


@register_loss
class SmoothL1Loss(LossTerm):
    """Smooth L1 (Huber with slope 1) between the fused cube and the ground truth, masked bands excluded.

    Computed on 0..1 data, where errors stay below `beta` = 1 and the term behaves as 0.5 * MSE. The paper
    computed it on [-1, 1] data, making the pixel terms 4x larger relative to SAM and feature KD; raise the
    pixel weights 4x to reproduce that balance.

    Args:
        weight: Multiplies the reduced value.
        reduction: 'mean' over unmasked elements, 'sum' or 'none' (N, B, H, W).
        beta: Switch point between the quadratic and linear parts, in 0..1 data units.

    Shape:
        pred, target (N, B, H, W) 0..1; band_mask (B,) or (N, B), 1 = valid.
    """

    target = "gt"
    short = "pix"

    def __init__(self, weight: float = 1.0, reduction: Reduction = "mean", beta: float = 1.0) -> None:
        super().__init__(weight, reduction)
        if not beta > 0:
            raise ValueError(f"SmoothL1Loss beta must be > 0; got {beta}")
        self.beta = float(beta)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, band_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        _check_pair(pred, target, type(self).__name__)
        values = F.smooth_l1_loss(pred, target, reduction="none", beta=self.beta)
        return self.weight * reduce_masked(values, band_weights(band_mask, pred), self.reduction)


@register_loss
class OutputKDLoss(SmoothL1Loss):
    """Output distillation: smooth L1 between the student's cube and the teacher's cube.

    The teacher's cube is detached here, so no gradient reaches the teacher whatever the caller passes.

    Shape:
        pred (student) and target (teacher) (N, B, H, W) 0..1; band_mask (B,) or (N, B).
    """

    target = "teacher_cube"
    short = "kd_out"

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, band_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return super().forward(pred, target.detach(), band_mask)


@register_loss
class BandwiseLoss(LossTerm):
    """Band-wise smooth L1, each band normalised by the ground truth's energy in that band.

    For sample n and band k: `mean_pixels(smoothL1(pred, gt)) / (mean_pixels(gt) + offset)`, where the energy
    is the band's mean ground-truth value on 0..1 data (non-negative, so dark bands get *larger* weights and
    are not drowned by bright ones). Unlike the authors' code it is computed on 0..1 data, not [-1, 1], and
    has no -0.5 term.

    Args:
        weight: Multiplies the reduced value.
        reduction: 'mean' over unmasked (sample, band) pairs, 'sum' or 'none' (N, B).
        beta: Smooth L1 switch point.
        offset: Added to the energy (0.1 in the paper) so empty bands do not divide by zero.

    Shape:
        pred, target (N, B, H, W) 0..1; band_mask (B,) or (N, B).
    """

    target = "gt"
    short = "band"

    def __init__(
        self, weight: float = 1.0, reduction: Reduction = "mean", beta: float = 1.0, offset: float = 0.1
    ) -> None:
        super().__init__(weight, reduction)
        if not offset > 0:
            raise ValueError(f"BandwiseLoss offset must be > 0; got {offset}")
        self.beta = float(beta)
        self.offset = float(offset)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, band_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        _check_pair(pred, target, type(self).__name__)
        per_band = F.smooth_l1_loss(pred, target, reduction="none", beta=self.beta).mean(dim=(2, 3))
        energy = target.mean(dim=(2, 3))
        values = per_band / (energy + self.offset)
        weights = band_weights(band_mask, pred)[:, :, 0, 0]
        return self.weight * reduce_masked(values, weights, self.reduction)
