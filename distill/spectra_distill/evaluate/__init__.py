"""Evaluation of trained checkpoints: held-out regions, networks vs baselines, misregistration, figures."""

from spectra_distill.data.splits import assert_disjoint
from spectra_distill.evaluate.regions import (
    EvalRegion,
    ModelFacts,
    RealPairRegion,
    held_out_regions,
    real_pair_regions,
)
from spectra_distill.evaluate.report import to_markdown, write_report
from spectra_distill.evaluate.run import EvalConfig, EvalResult, aggregate, evaluate_checkpoint
from spectra_distill.evaluate.tiling import fuse_tiled, fuse_whole_or_tiled, is_out_of_memory

__all__ = [
    "EvalConfig",
    "EvalRegion",
    "EvalResult",
    "ModelFacts",
    "RealPairRegion",
    "aggregate",
    "assert_disjoint",
    "evaluate_checkpoint",
    "fuse_tiled",
    "fuse_whole_or_tiled",
    "held_out_regions",
    "is_out_of_memory",
    "real_pair_regions",
    "to_markdown",
    "write_report",
]
