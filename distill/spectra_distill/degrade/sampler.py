"""Training patches: aligned HR/LR crops degraded on the fly, as a torch map-style Dataset.

Item ``i`` of epoch ``e`` depends only on ``(seed, e, i)``, so a resumed run sees the same patches in the same
order whatever the worker count (call :meth:`FusionPatchDataset.set_epoch` at each epoch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from spectra_distill.data.cube import Cube
from spectra_distill.data.masks import valid_patch_origins
from spectra_distill.degrade.misregister import shift_hr
from spectra_distill.degrade.noise import add_awgn
from spectra_distill.degrade.pipeline import WaldConfig
from spectra_distill.degrade.psf import make_psf, spatial_degrade
from spectra_distill.degrade.srf import SRFMatrix, srf_for_cube
from spectra_distill.errors import BandCountError, DatasetError

MIN_JITTER_SIGMA = 0.3
"""A jittered PSF never gets narrower than this (HR pixels): below it the Gaussian taps alias."""


@dataclass(frozen=True)
class SamplerConfig:
    """Patch sampling.

    Attributes:
        patch_size: HR patch side in pixels; a multiple of the scale.
        samples_per_epoch: Dataset length.
        augment: Random horizontal/vertical flips and 90-degree rotations.
        train: Add the Wald config's noise (training only; validation pairs stay clean).
        seed: Base seed; items are seeded with (seed, epoch, index).
        region_power: A region is drawn with probability proportional to (its patch positions) ** power:
            1 = by area, 0 = every region alike, 0.5 = small regions drawn more often than by area.
        psf_jitter: Sensor randomisation (training only): each patch is blurred with a Gaussian whose sigma is
            drawn uniformly within the nominal sigma +- this many HR pixels, so a network whose graph holds the
            nominal PSF learns to tolerate a camera described slightly wrong.
        msi_mix_jitter: Sensor randomisation (training only): the HR-MSI is multiplied by I + E with E's entries
            uniform in +- this value, a camera whose bands respond a little to their neighbours' light (an SRF
            other than the card's).
        msi_cameras: Sensor randomisation (training only): MSI presets of other cameras with the card's bands
            (`degrade.srf`, e.g. `srf=camspec_28cameras_srf.csv:Canon_600D_R,Canon_600D_G,Canon_600D_B`); a
            patch takes its HR-MSI from one of them, drawn uniformly, with probability `msi_camera_prob`.
        msi_camera_prob: See `msi_cameras`.
    """

    patch_size: int = 128
    samples_per_epoch: int = 1000
    augment: bool = True
    train: bool = True
    seed: int = 0
    region_power: float = 1.0
    psf_jitter: float = 0.0
    msi_mix_jitter: float = 0.0
    msi_cameras: tuple[str, ...] = ()
    msi_camera_prob: float = 0.0


class FusionPatchDataset(Dataset):
    """Random fusion patches from a list of training Cubes (one band grid).

    Each item is a dict of float32 tensors: ``lrhsi`` (B, P/s, P/s), ``hrmsi`` (b, P, P), ``hrhsi``
    (B, P, P), ``band_mask`` (B,) with 1 for valid bands. Patches whose HR window holds an invalid (nodata)
    pixel are never drawn; HR offsets are multiples of the scale.

    Args:
        cubes: Training regions (0..1 units), all with the same wavelengths.
        wald: Degradation (scale, PSF, MSI preset, noise, misregistration).
        cfg: Sampling settings.
        srfs: Optional precomputed SRF per cube (default: built from each cube's band mask).
    """

    def __init__(
        self,
        cubes: Sequence[Cube],
        wald: WaldConfig,
        cfg: SamplerConfig = SamplerConfig(),
        srfs: Sequence[SRFMatrix] | None = None,
    ) -> None:
        if cfg.patch_size % wald.scale:
            raise ValueError(f"patch_size {cfg.patch_size} must be a multiple of the scale {wald.scale}")
        if not cubes:
            raise DatasetError("FusionPatchDataset needs at least one training cube")
        bands = {c.bands for c in cubes}
        if len(bands) != 1:
            raise BandCountError(f"Training cubes must share one band grid; got band counts {sorted(bands)}")
        self.cubes = list(cubes)
        self.wald = wald
        self.cfg = cfg
        self.psf = wald.psf()
        self.srfs = list(srfs) if srfs is not None else [wald.srf(c) for c in self.cubes]
        self.offsets = [valid_patch_origins(c, cfg.patch_size, align=wald.scale) for c in self.cubes]
        counts = np.array([len(o) for o in self.offsets], dtype=np.float64)
        if counts.sum() == 0:
            sizes = ", ".join(f"{c.height}x{c.width}" for c in self.cubes)
            raise DatasetError(
                f"No {cfg.patch_size}px patch without nodata fits in the training cubes ({sizes})"
            )
        if not cfg.region_power >= 0:
            raise ValueError(f"region_power must be >= 0; got {cfg.region_power}")
        if not 0.0 <= cfg.msi_camera_prob <= 1.0 or (cfg.msi_camera_prob > 0 and not cfg.msi_cameras):
            raise ValueError(
                f"msi_camera_prob must be in [0, 1] and needs msi_cameras; got {cfg.msi_camera_prob} with "
                f"{len(cfg.msi_cameras)} cameras"
            )
        # each camera's SRF on each cube, built once; a camera with other bands than the card's is refused
        self.camera_srfs = [
            [srf_for_cube(c, preset, clip=True, srf_dir=wald.srf_dir) for preset in cfg.msi_cameras]
            for c in self.cubes
        ]
        for preset, srf in zip(cfg.msi_cameras, self.camera_srfs[0], strict=True):
            if srf.msi_bands != self.srfs[0].msi_bands:
                raise BandCountError(
                    f"msi_cameras: {preset} has {srf.msi_bands} bands; "
                    f"the card's MSI has {self.srfs[0].msi_bands}"
                )
        # a region without a single patch position is never drawn, whatever the power
        weights = np.where(counts > 0, counts**cfg.region_power, 0.0)
        self.cube_prob = weights / weights.sum()
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.cfg.samples_per_epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.cfg.seed, self.epoch, int(index)])
        k = int(rng.choice(len(self.cubes), p=self.cube_prob))
        top, left = self.offsets[k][rng.integers(len(self.offsets[k]))]
        cube, p = self.cubes[k], self.cfg.patch_size
        hr = cube.data[:, top : top + p, left : left + p]
        if self.cfg.augment:
            if rng.random() < 0.5:
                hr = hr[:, ::-1]
            if rng.random() < 0.5:
                hr = hr[:, :, ::-1]
            hr = np.rot90(hr, k=int(rng.integers(4)), axes=(1, 2))
        hr = np.ascontiguousarray(hr, dtype=np.float32)
        shift = self.wald.misregistration_px
        psf = self.psf
        if self.cfg.train and self.cfg.psf_jitter > 0:
            sigma = psf.sigma + rng.uniform(-self.cfg.psf_jitter, self.cfg.psf_jitter)
            psf = make_psf(self.wald.scale, psf.kernel_size, max(sigma, MIN_JITTER_SIGMA))
        lr = spatial_degrade(shift_hr(hr, shift, shift) if shift else hr, self.wald.scale, psf)
        srf = self.srfs[k]
        if self.cfg.train and self.cfg.msi_camera_prob > 0 and rng.random() < self.cfg.msi_camera_prob:
            srf = self.camera_srfs[k][int(rng.integers(len(self.cfg.msi_cameras)))]
        msi = srf.project(hr)
        if self.cfg.train and self.cfg.msi_mix_jitter > 0:
            b = msi.shape[0]
            mix = np.eye(b) + rng.uniform(-self.cfg.msi_mix_jitter, self.cfg.msi_mix_jitter, (b, b))
            msi = np.tensordot(mix, msi, axes=1).astype(np.float32)
        band_mask = np.ones(cube.bands, dtype=bool) if cube.band_mask is None else cube.band_mask
        if self.cfg.train and self.wald.snr_db is not None:
            lr = add_awgn(lr, self.wald.snr_db, rng, band_mask=band_mask)
        if self.cfg.train and self.wald.msi_snr_db is not None:
            msi = add_awgn(msi, self.wald.msi_snr_db, rng)
        return {
            "lrhsi": torch.from_numpy(lr),
            "hrmsi": torch.from_numpy(msi),
            "hrhsi": torch.from_numpy(hr),
            "band_mask": torch.from_numpy(band_mask.astype(np.float32)),
        }
