"""Training data: scenes on the model band grid, train-region patches, clean validation pairs, card facts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from spectra_distill.data.cube import Cube
from spectra_distill.degrade import WaldConfig, make_pair
from spectra_distill.degrade.psf import make_psf
from spectra_distill.degrade.sampler import FusionPatchDataset, SamplerConfig
from spectra_distill.errors import BandCountError, DatasetError, WavelengthError
from spectra_distill.models import InputStatistics
from spectra_distill.train.config import DataConfig


@dataclass(frozen=True)
class ValRegion:
    """One clean validation pair, simulated once.

    Attributes:
        name: `<dataset>/<scene>#<index>` for logs.
        dataset: Dataset name (metrics are averaged per dataset).
        lrhsi: (1, B, h, w) float32 0..1.
        hrmsi: (1, b, H, W) float32 0..1.
        hrhsi: (B, H, W) float32 reference.
        valid: (H, W) bool pixel mask or None.
        band_mask: (B,) bool or None.
    """

    name: str
    dataset: str
    lrhsi: torch.Tensor
    hrmsi: torch.Tensor
    hrhsi: np.ndarray
    valid: np.ndarray | None
    band_mask: np.ndarray | None


@dataclass(frozen=True)
class TrainData:
    """Everything the trainer needs from the data side.

    Attributes:
        train_set: Patch dataset over the training regions (items depend only on seed, epoch and index).
        val: Validation pairs.
        card: Data facts for the model card (keys of `spectra_distill.export.card.CardFacts`).
        hsi_bands: B.
        msi_bands: b.
    """

    train_set: FusionPatchDataset
    val: list[ValRegion]
    card: dict[str, Any]
    hsi_bands: int
    msi_bands: int


def wald_config(cfg: DataConfig, seed: int) -> WaldConfig:
    """The degradation the config describes (noise applies to training patches only)."""
    return WaldConfig(
        scale=cfg.scale,
        psf_kernel_size=cfg.psf_kernel_size,
        psf_sigma=cfg.psf_sigma,
        msi=cfg.msi,
        snr_db=cfg.snr_db,
        misregistration_px=cfg.misregistration_px,
        seed=seed,
        srf_dir=None if cfg.root is None else str(Path(cfg.root) / "srf"),
    )


def _centre_crop(cube: Cube, side: int | None, scale: int) -> Cube:
    """Crop to at most `side` (and to multiples of `scale`) around the centre."""
    h = cube.height if side is None else min(cube.height, side)
    w = cube.width if side is None else min(cube.width, side)
    h, w = h - h % scale, w - w % scale
    return cube.crop((cube.height - h) // 2, (cube.width - w) // 2, h, w)


def _dataset_of(cube: Cube) -> str:
    return str(cube.provenance.get("dataset", "unknown"))


def _card(cubes: Sequence[Cube], wald: WaldConfig, cfg: DataConfig, split: str) -> dict[str, Any]:
    ref = cubes[0]
    band_valid = np.zeros(ref.bands, dtype=bool)
    for cube in cubes:
        band_valid |= np.ones(ref.bands, dtype=bool) if cube.band_mask is None else cube.band_mask
    # the card's SRF is built on the bands the model learnt; a row never sums over unsupervised bands
    srf = wald.srf(
        replace(ref, band_mask=band_valid, data=np.zeros((ref.bands, 1, 1), np.float32), valid=None)
    )
    value_scale: dict[str, float] = {}
    for cube in cubes:
        if "value_scale" in cube.provenance:
            value_scale[_dataset_of(cube)] = float(cube.provenance["value_scale"])
    return {
        "wavelengths": [float(x) for x in ref.wavelengths],
        "fwhm": None if ref.fwhm is None else [float(x) for x in ref.fwhm],
        "band_valid": [bool(x) for x in band_valid],
        "msi": srf.as_card(),
        "psf": wald.psf().as_card(),
        "scale": int(cfg.scale),
        "value_scale": value_scale,
        "datasets": list(cfg.datasets),
        "split": split,
    }


def degradation_of(card: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The card's SRF matrix (b, B) and PSF taps, for `FusionNet.set_degradation`."""
    psf = make_psf(int(card["scale"]), int(card["psf"]["kernel_size"]), float(card["psf"]["sigma"]))
    return torch.as_tensor(card["msi"]["srf"], dtype=torch.float64), torch.as_tensor(psf.taps())


def make_train_data(
    train_cubes: Sequence[Cube], val_cubes: Sequence[Cube], cfg: DataConfig, seed: int, split: str
) -> TrainData:
    """Patch sampler over `train_cubes`, clean pairs from `val_cubes`, card facts; all on one band grid.

    Raises:
        DatasetError: no training or no validation region.
        WavelengthError: the regions are on different band grids.
    """
    if not train_cubes:
        raise DatasetError(f"No training region for datasets {cfg.datasets} in split {split!r}")
    if not val_cubes:
        raise DatasetError(f"No validation region for datasets {cfg.datasets} in split {split!r}")
    ref = train_cubes[0].wavelengths
    for cube in [*train_cubes, *val_cubes]:
        if cube.wavelengths.shape != ref.shape or not np.allclose(cube.wavelengths, ref):
            raise WavelengthError(
                f"Region {cube.provenance.get('scene', '?')} is not on the model band grid ({ref.size} bands "
                f"{ref[0]:.0f}-{ref[-1]:.0f} nm)",
                cube.provenance.get("path"),
            )
    wald = wald_config(cfg, seed)
    train_set = FusionPatchDataset(
        train_cubes,
        wald,
        SamplerConfig(
            patch_size=cfg.patch_size,
            samples_per_epoch=cfg.samples_per_epoch,
            augment=cfg.augment,
            train=True,
            region_power=cfg.region_power,
            psf_jitter=cfg.psf_jitter,
            msi_mix_jitter=cfg.msi_mix_jitter,
            msi_cameras=tuple(cfg.msi_cameras),
            msi_camera_prob=cfg.msi_camera_prob,
            seed=seed,
        ),
    )
    clean = replace(wald, snr_db=None, msi_snr_db=None, misregistration_px=0)
    val: list[ValRegion] = []
    for i, cube in enumerate(val_cubes):
        region = _centre_crop(cube, cfg.val_crop, cfg.scale)
        if region.height < cfg.scale * 4 or region.width < cfg.scale * 4:
            continue  # a sliver too thin for the networks' LR streams says nothing about quality
        pair = make_pair(region, clean)
        val.append(
            ValRegion(
                name=f"{_dataset_of(cube)}/{cube.provenance.get('scene', i)}#{i}",
                dataset=_dataset_of(cube),
                lrhsi=torch.from_numpy(pair.lrhsi.data).unsqueeze(0),
                hrmsi=torch.from_numpy(pair.hrmsi.data).unsqueeze(0),
                hrhsi=region.data,
                valid=region.valid,
                band_mask=region.band_mask,
            )
        )
    if not val:
        raise DatasetError(f"Every validation region of {cfg.datasets} is smaller than {cfg.scale * 4} px")
    msi_bands = int(train_set.srfs[0].msi_bands)
    if any(s.msi_bands != msi_bands for s in train_set.srfs):
        raise BandCountError(f"MSI preset {cfg.msi!r} gives different band counts for different scenes")
    return TrainData(
        train_set=train_set,
        val=val,
        card=_card([*train_cubes, *val_cubes], wald, cfg, split),
        hsi_bands=int(ref.size),
        msi_bands=msi_bands,
    )


def input_statistics(
    train_set: FusionPatchDataset, samples: int = 64, floor: float = 0.01
) -> InputStatistics:
    """Per-band mean and std of the LR-HSI and HR-MSI the network trains on (the first `samples` patches).

    The std is floored at `floor` (1 % reflectance) so near-constant and masked bands are not amplified.
    """
    n = min(samples, len(train_set))
    items = [train_set[i] for i in range(n)]

    def stats(key: str) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.stack([torch.as_tensor(item[key], dtype=torch.float32) for item in items])
        per_band = x.transpose(0, 1).reshape(x.shape[1], -1)
        return per_band.mean(1), per_band.std(1).clamp_min(floor)

    return InputStatistics(*stats("lrhsi"), *stats("hrmsi"))


def build_data(cfg: DataConfig, seed: int) -> TrainData:
    """Load the configured datasets, resample onto the model grid, split into train/val regions.

    Raises:
        DatasetError: unknown dataset, grid or split, or no usable region.
    """
    from spectra_distill.data import default_data_root, load_scenes
    from spectra_distill.data.resample import GRIDS, resample_cube
    from spectra_distill.data.splits import load_split, split_scene

    root = Path(cfg.root) if cfg.root is not None else default_data_root()
    cfg = replace(cfg, root=str(root))
    if cfg.grid not in GRIDS:
        raise DatasetError(f"Unknown band grid {cfg.grid!r}; known: {', '.join(GRIDS)}")
    grid = GRIDS[cfg.grid]
    spec = load_split(cfg.split)
    train: list[Cube] = []
    val: list[Cube] = []
    for scene in load_scenes(root, names=list(cfg.datasets)):
        on_grid = resample_cube(scene, grid.wavelengths, grid.fwhm)
        train.extend(split_scene(on_grid, spec, "train"))
        val.extend(split_scene(on_grid, spec, "val"))
    if cfg.synthetic_scenes:
        from spectra_distill.data.synthetic import SyntheticSceneConfig, synthetic_scene

        synth = SyntheticSceneConfig(size=cfg.synthetic_size)
        for i in tqdm(range(cfg.synthetic_scenes), desc="synthetic scenes", unit="scene", leave=False):
            train.append(
                synthetic_scene(grid.wavelengths, grid.fwhm, index=i, seed=seed, cfg=synth, root=root)
            )
    return make_train_data(train, val, cfg, seed, cfg.split)
