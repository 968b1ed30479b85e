"""Classical HSI-MSI fusion baselines (bicubic, GSA, MTF-GLP-HPM, SFIM) to put the networks in context."""

from spectra_distill.baselines.common import assign_bands, bicubic_upsample
from spectra_distill.baselines.methods import BASELINES, bicubic, gsa, mtf_glp_hpm, sfim

__all__ = ["BASELINES", "assign_bands", "bicubic", "bicubic_upsample", "gsa", "mtf_glp_hpm", "sfim"]
