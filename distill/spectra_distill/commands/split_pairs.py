"""Fusion pairs from a model's split regions, simulated by the host pipeline, for `spectra quantize`.

Calibration must see only training pixels and quality must be measured only on held-out pixels. The region
tables live in the host's split (`spectra_distill/splits/<name>.yaml`) and dataset descriptors; this command
asks the host for them instead of restating them in TypeScript, and simulates each pair exactly as the host's
evaluation does (scene resampled onto the card's band grid, masked bands zero, clean Wald degradation with the
card's PSF and MSI preset).

Example: spectra-distill split-pairs --card models/X.card.json --role train --out DIR [--tile 32]
         spectra-distill split-pairs --card models/X.card.json --role val --out DIR
(`writeSplitPairs` in the SDK's quantize/split-pairs.ts runs this as `$SPECTRA_PYTHON -m spectra_distill`.)

Writes into DIR (created; existing pair files are refused):
    <stem>.lrhsi.npy, <stem>.hrmsi.npy, <stem>.hrhsi.npy   float32 (bands, H, W), physical units 0..1
    <stem>.valid.npy                                       bool (H, W), only when some pixel is nodata
    regions.json   split, role, and per sample: scene, dataset, window (top, left, height, width in scene
                   pixels), the split region it was cut from, and `band_mask` (bands to score: learnt by the
                   model and supported by the scene)

Roles: `train` cuts every training region into tiles of `--tile` HR pixels (only windows without nodata, as
the training sampler does; at most `--tiles-per-region`, spread over the region); `val` and `test` give each
held-out region whole (cropped to a multiple of the scale) and are checked to be disjoint from the training
regions of the split the model was trained with.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from spectra_distill.data import (
    default_data_root,
    load_scenes,
    resample_cube,
    split_scene,
    valid_patch_origins,
)
from spectra_distill.data.cube import Cube
from spectra_distill.data.splits import (
    SplitSpec,
    assert_disjoint,
    load_split,
    window_of,
)
from spectra_distill.degrade import WaldConfig, make_pair
from spectra_distill.errors import DatasetError
from spectra_distill.evaluate.regions import ModelFacts

logger = logging.getLogger(__name__)

ROLES = ("train", "val", "test")


def _window(cube: Cube) -> list[int]:
    w = window_of(cube)
    return [w.top, w.left, w.height, w.width]


def _spread(origins: np.ndarray, count: int) -> np.ndarray:
    """At most ``count`` of the origins, first to last evenly (row-major order), so tiles reach every side."""
    if len(origins) <= count:
        return origins
    return origins[np.round(np.linspace(0, len(origins) - 1, count)).astype(int)]


def _pieces(region: Cube, role: str, tile: int, per_region: int, scale: int) -> list[Cube]:
    if role != "train":
        h, w = (
            region.height - region.height % scale,
            region.width - region.width % scale,
        )
        return [region.crop(0, 0, h, w)] if h >= 4 * scale and w >= 4 * scale else []
    side = min(tile, region.height, region.width)
    side -= side % scale
    if side < 4 * scale:
        return []
    origins = valid_patch_origins(region, side, stride=side, align=scale)
    return [region.crop(int(r), int(c), side, side) for r, c in _spread(origins, per_region)]


def write_pairs(
    grid: ModelFacts,
    role: str,
    out: Path,
    root: Path,
    spec: SplitSpec,
    tile: int = 32,
    per_region: int = 6,
) -> dict[str, Any]:
    """Simulate and write the pairs of ``role``; returns the manifest also written to ``regions.json``.

    Raises:
        DatasetError: unknown datasets, a held-out region overlapping training pixels, no usable region, or
            pair files already in ``out``.
    """
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; known: {', '.join(ROLES)}")
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("*.lrhsi.npy")):
        raise DatasetError("output folder already holds pairs; give an empty one", out)
    train_spec = load_split(grid.split)
    wald = WaldConfig(
        scale=grid.scale,
        psf_kernel_size=grid.psf_kernel_size,
        psf_sigma=grid.psf_sigma,
        msi=grid.msi_preset,
        srf_dir=str(root / "srf"),
    )
    samples: list[dict[str, Any]] = []
    skipped: list[str] = []
    for scene in load_scenes(root, names=list(grid.datasets)):
        name = str(scene.provenance["scene"])
        if name in spec.exclude:
            continue
        # resampled even where the grids coincide, as training did (the Gaussian is not the identity)
        on_grid = resample_cube(scene, grid.wavelengths, grid.fwhm)
        for k, region in enumerate(split_scene(on_grid, spec, role)):
            if role != "train":
                assert_disjoint(region, (scene.height, scene.width), train_spec)
            pieces = _pieces(region, role, tile, per_region, grid.scale)
            if not pieces:
                skipped.append(
                    f"{name} {role} region {_window(region)}: no nodata-free window of "
                    f"at least {4 * grid.scale} px"
                )
            for piece in pieces:
                pair = make_pair(piece, wald)
                w = _window(piece)
                stem = f"{name}-{role}{k}-{w[0]:03d}-{w[1]:03d}"
                valid = piece.valid
                hr = np.nan_to_num(piece.data, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
                if valid is not None:
                    hr = np.where(valid[None], hr, 0.0).astype(np.float32)
                np.save(out / f"{stem}.lrhsi.npy", pair.lrhsi.data.astype(np.float32))
                np.save(out / f"{stem}.hrmsi.npy", pair.hrmsi.data.astype(np.float32))
                np.save(out / f"{stem}.hrhsi.npy", hr)
                if valid is not None and not valid.all():
                    np.save(out / f"{stem}.valid.npy", valid.astype(bool))
                bands = grid.band_valid & (
                    np.ones(grid.wavelengths.size, bool) if piece.band_mask is None else piece.band_mask
                )
                samples.append({
                    "stem": stem,
                    "dataset": str(scene.provenance.get("dataset", name)),
                    "scene": name,
                    "role": role,
                    "window": w,
                    "region": _window(region),
                    "scene_size": [scene.height, scene.width],
                    "valid_fraction": 1.0 if valid is None else round(float(valid.mean()), 4),
                    "scored_bands": int(bands.sum()),
                    "band_mask": [bool(b) for b in bands],
                })  # fmt: skip
    if not samples:
        raise DatasetError(
            f"no {role} region of {', '.join(grid.datasets)} in split {spec.name!r} gives a pair "
            f"of at least {4 * grid.scale} px",
            root,
        )
    manifest = {
        "split": spec.name,
        "train_split": train_spec.name,
        "role": role,
        "data_root": str(root),
        "scale": grid.scale,
        "tile": tile if role == "train" else None,
        "samples": samples,
        "skipped": skipped,
    }
    (out / "regions.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--card", type=Path, required=True, help="model card (.card.json) of the float32 model"
    )
    parser.add_argument("--role", choices=ROLES, required=True, help="split role whose regions become pairs")
    parser.add_argument("--out", type=Path, required=True, help="empty folder for the pairs")
    parser.add_argument("--data", type=Path, help="data root (default: ../shared/data or $SPECTRA_DATA)")
    parser.add_argument("--split", help="split name or YAML (default: the one the model was trained with)")
    parser.add_argument("--tile", type=int, default=32, help="train: HR tile side in pixels")
    parser.add_argument("--tiles-per-region", type=int, default=6, help="train: tiles per region at most")


def run(args: argparse.Namespace) -> int:
    grid = ModelFacts.read_model_card(args.card)
    root = (args.data or default_data_root()).resolve()
    spec = load_split(args.split or grid.split)
    manifest = write_pairs(grid, args.role, args.out, root, spec, args.tile, args.tiles_per_region)
    for reason in manifest["skipped"]:
        logger.info("skipped %s", reason)
    n = len(manifest["samples"])
    logger.info("wrote %d %s pairs of split %r to %s", n, args.role, manifest["split"], args.out)
    return 0
