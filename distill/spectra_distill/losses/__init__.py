"""Loss terms for fusion and distillation, one module per term, built by name from config blocks."""

from spectra_distill.losses.combined import STUDENT_LOSSES, TEACHER_LOSSES, LossSet
from spectra_distill.losses.feature import FeatureKDLoss
from spectra_distill.losses.pixel import BandwiseLoss, OutputKDLoss, SmoothL1Loss
from spectra_distill.losses.registry import LOSSES, REDUCTIONS, LossTerm, build_loss, register_loss
from spectra_distill.losses.spectral import SAMLoss

__all__ = [
    "LOSSES",
    "REDUCTIONS",
    "STUDENT_LOSSES",
    "TEACHER_LOSSES",
    "BandwiseLoss",
    "FeatureKDLoss",
    "LossSet",
    "LossTerm",
    "OutputKDLoss",
    "SAMLoss",
    "SmoothL1Loss",
    "build_loss",
    "register_loss",
]
