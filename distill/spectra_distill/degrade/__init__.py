"""Wald-protocol degradation: Gaussian PSF + decimation, SRF projection, noise, misregistration, patches.

NumPy versions serve evaluation; :mod:`spectra_distill.degrade.torch_ops` holds numerically identical torch
batch versions for training on GPU tensors.
"""

from spectra_distill.degrade.misregister import shift_hr
from spectra_distill.degrade.noise import add_awgn, measured_snr_db, noise_sigma
from spectra_distill.degrade.pipeline import FusionPair, WaldConfig, degrade_cube, make_pair, make_real_pair
from spectra_distill.degrade.psf import GaussianPSF, default_psf, make_psf, spatial_degrade
from spectra_distill.degrade.srf import PRESETS, SRFMatrix, project_cube, srf_for_cube, srf_matrix

__all__ = [
    "PRESETS",
    "FusionPair",
    "GaussianPSF",
    "SRFMatrix",
    "WaldConfig",
    "add_awgn",
    "default_psf",
    "degrade_cube",
    "make_pair",
    "make_psf",
    "make_real_pair",
    "measured_snr_db",
    "noise_sigma",
    "project_cube",
    "shift_hr",
    "spatial_degrade",
    "srf_for_cube",
    "srf_matrix",
]
