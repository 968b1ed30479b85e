"""A weighted set of loss terms evaluated on a model output, with `l_`-prefixed names for the logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from spectra_distill.losses.registry import LossTerm, build_loss

# CSAKD's objectives (paper, section on training): teacher = pixel + 0.1 SAM + 0.1 band-wise; student adds
# output and feature distillation from the detached teacher.
TEACHER_LOSSES: tuple[dict[str, Any], ...] = (
    {"type": "SmoothL1Loss", "weight": 1.0},
    {"type": "SAMLoss", "weight": 0.1},
    {"type": "BandwiseLoss", "weight": 0.1},
)
STUDENT_LOSSES: tuple[dict[str, Any], ...] = (
    {"type": "SmoothL1Loss", "weight": 1.0},
    {"type": "OutputKDLoss", "weight": 0.1},
    {"type": "FeatureKDLoss", "weight": 0.1},
    {"type": "BandwiseLoss", "weight": 0.1},
    {"type": "SAMLoss", "weight": 0.1},
)


class LossSet(nn.Module):
    """Sum of configured terms for one network; each term picks its target (ground truth or teacher).

    Args:
        specs: Loss blocks `{type: <registered name>, weight: ..., ...}`.
        prefix: Log-name prefix: 't' gives `l_t_pix`, 's' gives `l_s_kd_feat`.

    Raises:
        ValueError: an unknown loss or option, no term, or a term with reduction 'none'.
    """

    def __init__(self, specs: Sequence[Mapping[str, Any]], prefix: str) -> None:
        super().__init__()
        self.terms = nn.ModuleList(build_loss(s) for s in specs)
        if not len(self.terms):
            raise ValueError(f"LossSet '{prefix}' needs at least one loss term")
        for term in self.terms:
            if term.reduction == "none":
                raise ValueError(
                    f"{type(term).__name__} in a training objective needs reduction 'mean' or 'sum'"
                )
        names: list[str] = []
        for term in self.terms:
            name = f"l_{prefix}_{term.short}"
            # two terms of one kind (e.g. two SAM weights in an ablation) keep distinct log columns
            names.append(name if name not in names else f"{name}{len(names)}")
        self.names = tuple(names)

    @property
    def needs_teacher(self) -> bool:
        return any(t.target != "gt" for t in self.terms)

    def forward(
        self,
        cube: torch.Tensor,
        features: torch.Tensor,
        gt: torch.Tensor,
        band_mask: torch.Tensor | None = None,
        teacher_cube: torch.Tensor | None = None,
        teacher_features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and each weighted term (by log name).

        Raises:
            ValueError: a distillation term without the teacher's output.
        """
        parts: dict[str, torch.Tensor] = {}
        term: LossTerm
        for name, term in zip(self.names, self.terms, strict=True):
            if term.target == "gt":
                parts[name] = term(cube, gt, band_mask)
            elif term.target == "teacher_cube":
                if teacher_cube is None:
                    raise ValueError(f"{type(term).__name__} needs the teacher's cube; none was given")
                parts[name] = term(cube, teacher_cube, band_mask)
            else:
                if teacher_features is None:
                    raise ValueError(f"{type(term).__name__} needs the teacher's features; none were given")
                parts[name] = term(features, teacher_features, band_mask)
        total = torch.stack(list(parts.values())).sum()
        return total, parts
