"""Spectral angle loss over the band axis."""

from __future__ import annotations

import torch

from spectra_distill.losses.registry import LossTerm, Reduction, band_weights, reduce_masked, register_loss


@register_loss
class SAMLoss(LossTerm):
    """Spectral angle (radians) between predicted and ground-truth spectra, per pixel, over the band axis.

    `angle = acos(clamp(<p, g> / (|p| |g| + eps), -1 + clamp_eps, 1 - clamp_eps))` with masked bands zeroed in
    both spectra first, so they take no part in the angle. `eps` (1e-8) keeps all-zero spectra finite;
    `clamp_eps` (1e-7) keeps the gradient of acos finite at identical spectra. The angle is invariant to
    scaling either spectrum by a positive factor. The authors' version flattened (N, C, H, W) without moving
    the bands last and so compared arbitrary memory chunks; this one compares spectra.

    Args:
        weight: Multiplies the reduced value.
        reduction: 'mean' over pixels, 'sum' or 'none' (N, H, W).
        eps: Added to the norm product.
        clamp_eps: Distance from +-1 at which the cosine is clamped.

    Shape:
        pred, target (N, B, H, W); band_mask (B,) or (N, B).
    """

    target = "gt"
    short = "sam"

    def __init__(
        self,
        weight: float = 1.0,
        reduction: Reduction = "mean",
        eps: float = 1e-8,
        clamp_eps: float = 1e-7,
    ) -> None:
        super().__init__(weight, reduction)
        self.eps = float(eps)
        self.clamp_eps = float(clamp_eps)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, band_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if pred.ndim != 4 or pred.shape != target.shape:
            raise ValueError(
                f"SAMLoss: prediction and target must both be (N, B, H, W) of one shape; got "
                f"{tuple(pred.shape)} and {tuple(target.shape)}"
            )
        w = band_weights(band_mask, pred)
        p, g = pred * w, target * w
        dot = (p * g).sum(dim=1)
        norms = p.norm(dim=1) * g.norm(dim=1)
        cos = (dot / (norms + self.eps)).clamp(-1.0 + self.clamp_eps, 1.0 - self.clamp_eps)
        angle = torch.acos(cos)
        return self.weight * reduce_masked(angle, angle.new_ones(()), self.reduction)
