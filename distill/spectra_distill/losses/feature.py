"""Feature distillation: the student's fused features as logits of the teacher's sigmoid features."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spectra_distill.losses.registry import LossTerm, reduce_masked, register_loss


@register_loss
class FeatureKDLoss(LossTerm):
    """BCE-with-logits(Fs, sigmoid(Ft)) on the fused features, with the teacher's features detached.

    Features have `nf` channels, not bands, so the band mask has nothing to exclude here; it is accepted
    (and ignored) so every term shares one call signature. Student and teacher need the same `nf`.

    Shape:
        pred (student) and target (teacher) (N, nf, H, W), unbounded.
    """

    target = "teacher_features"
    short = "kd_feat"

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, band_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        del band_mask  # features carry no band axis
        if pred.shape != target.shape:
            raise ValueError(
                f"FeatureKDLoss: student features {tuple(pred.shape)} and teacher features "
                f"{tuple(target.shape)} differ; feature distillation needs the same nf and size"
            )
        values = F.binary_cross_entropy_with_logits(pred, torch.sigmoid(target.detach()), reduction="none")
        return self.weight * reduce_masked(values, values.new_ones(()), self.reduction)
