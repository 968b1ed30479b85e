"""Wald protocol: simulate an (LR-HSI, HR-MSI) pair from an HR-HSI that then serves as the reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spectra_distill.data.cube import Cube
from spectra_distill.degrade.misregister import shift_hr
from spectra_distill.degrade.noise import add_awgn
from spectra_distill.degrade.psf import (
    GaussianPSF,
    check_divisible,
    degrade_valid_mask,
    make_psf,
    spatial_degrade,
)
from spectra_distill.degrade.srf import SRFMatrix, project_cube, srf_for_cube
from spectra_distill.errors import ScaleError


@dataclass(frozen=True)
class WaldConfig:
    """How a fusion pair is simulated.

    Attributes:
        scale: Spatial ratio s (4 default, 8 supported).
        psf_kernel_size: Gaussian taps per axis; None = 2s (see :mod:`spectra_distill.degrade.psf`).
        psf_sigma: Gaussian sigma in HR pixels; None = s/2.
        msi: MSI preset (``rgb``, ``s2_4``, ``s2_6`` or ``srf=<file>:<bands>``).
        snr_db: AWGN on the LR-HSI at this SNR (dB); None = no noise.
        msi_snr_db: AWGN on the HR-MSI; None = no noise.
        misregistration_px: Shift of the LR-HSI in HR pixels (0-3), applied to rows and columns.
        seed: Seed of the noise generator.
        srf_clip: Accept SRFs reaching outside the cube's range (the lost share is reported).
        srf_dir: Folder of SRF CSVs; None = ``<data root>/srf``.
    """

    scale: int = 4
    psf_kernel_size: int | None = None
    psf_sigma: float | None = None
    msi: str = "rgb"
    snr_db: float | None = None
    msi_snr_db: float | None = None
    misregistration_px: int = 0
    seed: int = 0
    srf_clip: bool = False
    srf_dir: str | None = None

    def psf(self) -> GaussianPSF:
        return make_psf(self.scale, self.psf_kernel_size, self.psf_sigma)

    def srf(self, cube: Cube) -> SRFMatrix:
        return srf_for_cube(cube, self.msi, clip=self.srf_clip, srf_dir=self.srf_dir)


@dataclass(frozen=True)
class FusionPair:
    """Inputs and reference of one fusion problem (all Cubes in 0..1 physical units)."""

    lrhsi: Cube
    hrmsi: Cube
    hrhsi: Cube
    srf: SRFMatrix | None
    psf: GaussianPSF
    scale: int


def degrade_cube(cube: Cube, scale: int, psf: GaussianPSF, shift_px: int = 0) -> Cube:
    """Blur + decimate a cube (optionally shifted first); the valid mask follows the kernel footprint."""
    check_divisible(cube.height, cube.width, scale, f"Cube {cube.provenance.get('path', '')}".strip())
    cube.require_finite("HR cube")
    data = cube.data if shift_px == 0 else shift_hr(cube.data, shift_px, shift_px)
    valid = cube.valid
    if valid is not None and shift_px:
        valid = shift_hr(valid, shift_px, shift_px)
    # nodata pixels may hold anything finite; zero them so they cannot leak into neighbours' statistics
    if valid is not None:
        data = np.where(valid[None], data, 0.0)
    lr = spatial_degrade(data, scale, psf)
    lr_valid = None if valid is None else degrade_valid_mask(valid, scale, psf)
    prov = dict(cube.provenance, degraded_scale=scale)
    return cube.with_data(lr, valid=lr_valid, provenance=prov)


def make_pair(hr_cube: Cube, cfg: WaldConfig) -> FusionPair:
    """Simulate LR-HSI = noise(decimate(blur(shift(HR)))) and HR-MSI = SRF @ HR; HR is the reference.

    Raises:
        ScaleError: HR sizes not divisible by ``cfg.scale``.
        SRFCoverageError: the MSI preset reaches outside the cube's wavelengths (and ``srf_clip`` is off).
        NonFiniteError: NaN/Inf in the cube's valid pixels.
    """
    psf = cfg.psf()
    hr_cube.require_finite("HR-HSI")
    srf = cfg.srf(hr_cube)
    rng = np.random.default_rng(cfg.seed)
    lr = degrade_cube(hr_cube, cfg.scale, psf, cfg.misregistration_px)
    if cfg.snr_db is not None:
        lr = lr.with_data(add_awgn(lr.data, cfg.snr_db, rng, lr.valid, lr.band_mask))
    msi = project_cube(hr_cube, srf)
    if cfg.msi_snr_db is not None:
        msi = msi.with_data(add_awgn(msi.data, cfg.msi_snr_db, rng, msi.valid))
    return FusionPair(lrhsi=lr, hrmsi=msi, hrhsi=hr_cube, srf=srf, psf=psf, scale=cfg.scale)


def make_real_pair(
    hsi_cube: Cube, real_msi_cube: Cube, scale: int, psf: GaussianPSF | None = None
) -> FusionPair:
    """Reduced-resolution protocol for a real HSI + real higher-resolution MSI (Houston + its RGB).

    Both inputs are degraded by ``scale``: the HSI becomes the LR-HSI, the MSI (``scale`` times finer than
    the HSI) becomes an HR-MSI on the HSI's original grid, and the original HSI is the reference. ``srf`` is
    None: the real MSI's spectral response is not known exactly.

    Raises:
        ScaleError: the MSI is not exactly ``scale`` times the HSI size, or sizes are not divisible.
    """
    psf = make_psf(scale) if psf is None else psf
    if (real_msi_cube.height, real_msi_cube.width) != (scale * hsi_cube.height, scale * hsi_cube.width):
        raise ScaleError(
            f"Real MSI is {real_msi_cube.height} x {real_msi_cube.width} and HSI {hsi_cube.height} x "
            f"{hsi_cube.width}; the reduced-resolution protocol at scale {scale} needs the MSI "
            f"{scale}x larger",
            real_msi_cube.provenance.get("path"),
        )
    lr = degrade_cube(hsi_cube, scale, psf)
    msi = degrade_cube(real_msi_cube, scale, psf)
    return FusionPair(lrhsi=lr, hrmsi=msi, hrhsi=hsi_cube, srf=None, psf=psf, scale=scale)
