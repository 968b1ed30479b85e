"""Held-out regions on a model's band grid, checked to be disjoint from the pixels the model trained on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from spectra_distill.baselines.evaluate import fit_to_scale
from spectra_distill.data import load_msi, load_scenes, resample_cube, scene_index, split_scene
from spectra_distill.data.cube import Cube
from spectra_distill.data.splits import SplitSpec, assert_disjoint, window_of
from spectra_distill.errors import DatasetError


@dataclass(frozen=True)
class ModelFacts:
    """What evaluation needs to know about a trained model, read from its checkpoint's card.

    Attributes:
        wavelengths: (B,) band centres (nm) of the model's input and output.
        fwhm: (B,) band widths (nm) or None.
        band_valid: (B,) False for bands the model never learnt (excluded from metrics).
        msi_preset: Degradation MSI preset (``rgb``, ``s2_4``, ...).
        msi_band_names: Names of the HR-MSI bands in input order.
        scale: Spatial ratio.
        psf_sigma: Gaussian PSF sigma in HR pixels.
        psf_kernel_size: PSF taps.
        datasets: Datasets the model was trained on.
        split: Split the model was trained with.
    """

    wavelengths: np.ndarray
    fwhm: np.ndarray | None
    band_valid: np.ndarray
    msi_preset: str
    msi_band_names: tuple[str, ...]
    scale: int
    psf_sigma: float
    psf_kernel_size: int
    datasets: tuple[str, ...]
    split: str

    @classmethod
    def from_card(cls, card: dict[str, Any], source: str | Path | None = None) -> ModelFacts:
        """Parse a checkpoint's ``card`` entry.

        Raises:
            DatasetError: a key evaluation needs is missing.
        """
        need = ("wavelengths", "msi", "psf", "scale", "datasets", "split")
        missing = [k for k in need if card.get(k) in (None, [], "")]
        if missing:
            raise DatasetError(f"checkpoint card lacks {', '.join(missing)}; evaluation needs them", source)
        wl = np.asarray(card["wavelengths"], dtype=np.float64)
        valid = card.get("band_valid")
        return cls(
            wavelengths=wl,
            fwhm=None if card.get("fwhm") is None else np.asarray(card["fwhm"], dtype=np.float64),
            band_valid=np.ones(wl.size, bool) if valid is None else np.asarray(valid, dtype=bool),
            msi_preset=str(card["msi"]["preset"]),
            msi_band_names=tuple(card["msi"].get("band_names", ())),
            scale=int(card["scale"]),
            psf_sigma=float(card["psf"]["sigma"]),
            psf_kernel_size=int(card["psf"]["kernel_size"]),
            datasets=tuple(card["datasets"]),
            split=str(card["split"]),
        )

    @classmethod
    def read_model_card(cls, path: str | Path) -> ModelFacts:
        """Parse an exported model card (`<model>.card.json`, schema in docs/model-card.md).

        Raises:
            DatasetError: unreadable card, or a key pair simulation needs is missing.
        """
        try:
            card = json.loads(Path(path).read_text(encoding="utf-8"))
            hsi, training = card["hsi"], card.get("training") or {}
            return cls.from_card(
                {
                    "wavelengths": hsi["wavelengths_nm"],
                    "fwhm": hsi.get("fwhm_nm"),
                    "band_valid": hsi.get("band_valid"),
                    "msi": card["msi"],
                    "psf": card["psf"],
                    "scale": card["scale"],
                    "datasets": training["datasets"],
                    "split": training.get("split", "default"),
                },
                path,
            )
        except (OSError, ValueError) as exc:
            raise DatasetError(f"cannot read the model card ({exc})", path) from exc
        except (KeyError, TypeError) as exc:
            raise DatasetError(
                f"model card lacks {exc}; it needs hsi.wavelengths_nm, msi.preset, scale, psf and "
                "training.datasets",
                path,
            ) from exc


@dataclass(frozen=True)
class EvalRegion:
    """One held-out HR-HSI region on the model grid.

    Attributes:
        key: ``<scene>/<role>#<index>``, unique in one evaluation.
        dataset: Dataset folder (tables are per dataset).
        scene: Scene name.
        role: 'val' or 'test'.
        window: (top, left, height, width) in scene pixels.
        cube: The reference, (B, H, W) on the model grid with masks; H and W multiples of the scale.
        band_mask: (B,) bands scored: valid in this region and learnt by the model.
    """

    key: str
    dataset: str
    scene: str
    role: str
    window: tuple[int, int, int, int]
    cube: Cube
    band_mask: np.ndarray

    def describe(self) -> dict[str, Any]:
        valid = 1.0 if self.cube.valid is None else float(self.cube.valid.mean())
        return {
            "key": self.key,
            "dataset": self.dataset,
            "scene": self.scene,
            "role": self.role,
            "window": list(self.window),
            "hr_size": [self.cube.height, self.cube.width],
            "valid_fraction": round(valid, 4),
            "scored_bands": int(self.band_mask.sum()),
        }


def group_test_scenes(spec: SplitSpec, trained_scenes: Sequence[str]) -> list[str]:
    """Whole-scene test scenes of the model groups holding the trained scenes (Samson, Houston, balloons)."""
    out: list[str] = []
    for group in spec.groups.values():
        if set(trained_scenes) & set(group.scenes):
            out += [s for s in group.scenes if spec.scenes[s].role == "test" and s not in trained_scenes]
    return list(dict.fromkeys(out))


def _on_grid(scene: Cube, facts: ModelFacts) -> Cube:
    # always resampled, as training does, even when the grids coincide: the Gaussian resampling is not the
    # identity there, and the model learnt from resampled cubes
    return resample_cube(scene, facts.wavelengths, facts.fwhm)


def _regions_of(
    scene: Cube,
    facts: ModelFacts,
    spec: SplitSpec,
    train_spec: SplitSpec,
    roles: Sequence[str],
    trained: bool,
) -> list[EvalRegion]:
    grid = _on_grid(scene, facts)
    name = str(scene.provenance["scene"])
    out = []
    for role in roles:
        for i, region in enumerate(split_scene(grid, spec, role)):
            if trained:
                assert_disjoint(region, (scene.height, scene.width), train_spec)
            region = fit_to_scale(region, facts.scale)
            bands = facts.band_valid.copy()
            if region.band_mask is not None:
                bands &= region.band_mask
            w = window_of(region)
            out.append(
                EvalRegion(
                    key=f"{name}/{role}#{i}",
                    dataset=str(scene.provenance.get("dataset", name)),
                    scene=name,
                    role=role,
                    window=(w.top, w.left, w.height, w.width),
                    cube=region,
                    band_mask=bands,
                )
            )
    return out


def held_out_regions(
    facts: ModelFacts, root: Path, spec: SplitSpec, train_spec: SplitSpec, role: str
) -> tuple[list[EvalRegion], list[str]]:
    """The ``role`` regions of the trained datasets (and, for 'test', the group's whole test scenes).

    Every region of a trained scene is checked against the training split's train windows.

    Returns:
        Regions, and notes on scenes left out (excluded by the split).

    Raises:
        DatasetError: unknown dataset under ``root``, or a region that overlaps training pixels.
    """
    if role not in ("val", "test"):
        raise ValueError(f"Unknown evaluation role {role!r}; known: val, test")
    trained = load_scenes(root, names=list(facts.datasets))
    trained_names = [str(c.provenance["scene"]) for c in trained]
    extra = group_test_scenes(spec, trained_names) if role == "test" else []
    scenes = trained + (load_scenes(root, names=extra) if extra else [])
    regions: list[EvalRegion] = []
    notes: list[str] = []
    for scene in scenes:
        name = str(scene.provenance["scene"])
        if name in spec.exclude:
            notes.append(f"scene `{name}` excluded by split `{spec.name}`: {spec.exclude[name]}")
            continue
        regions += _regions_of(scene, facts, spec, train_spec, [role], name in trained_names)
    return regions, notes


@dataclass(frozen=True)
class RealPairRegion:
    """A held-out region of a scene with a real co-registered HR-MSI (Houston's RGB).

    Attributes:
        region: The HSI region on the model grid (the reference of the reduced-resolution protocol).
        msi: The real MSI over the same window, ``ratio`` times finer, bands in the model's order when the
            names match.
        msi_matches_model: The real MSI's band names equal the model's HR-MSI band names.
    """

    region: EvalRegion
    msi: Cube
    msi_matches_model: bool


def real_pair_regions(
    facts: ModelFacts, root: Path, spec: SplitSpec, train_spec: SplitSpec
) -> tuple[list[RealPairRegion], list[str]]:
    """Held-out (val and test) regions of every split scene marked ``real_pair``, with their real MSI crop.

    Returns:
        The regions, and notes on real-pair scenes absent from ``root``.

    Raises:
        DatasetError: the real MSI is not ``scale`` times finer than its scene.
    """
    out: list[RealPairRegion] = []
    notes: list[str] = []
    available = scene_index(root)
    for name, entry in spec.scenes.items():
        if not entry.real_pair:
            continue
        if name not in available:
            notes.append(f"real-pair scene `{name}` of split `{spec.name}` is not under {root}")
            continue
        scene = load_scenes(root, names=[name])[0]
        msi = load_msi(name, root)
        ratio = msi.height // scene.height
        if ratio != facts.scale or msi.width != ratio * scene.width:
            raise DatasetError(
                f"the real MSI of {name} is {msi.height}x{msi.width} for a {scene.height}x{scene.width} "
                f"scene; the real-pair protocol needs it exactly {facts.scale}x finer (the model's scale)",
                msi.provenance.get("path"),
            )
        names = tuple(msi.provenance.get("band_names", ()))
        matches = sorted(names) == sorted(facts.msi_band_names) and len(names) == len(facts.msi_band_names)
        if matches:
            order = [names.index(n) for n in facts.msi_band_names]
            msi = msi.with_data(
                msi.data[order],
                wavelengths=msi.wavelengths[order],
                fwhm=None if msi.fwhm is None else msi.fwhm[order],
                provenance={**msi.provenance, "band_names": list(facts.msi_band_names)},
            )
        trained = name in facts.datasets or str(scene.provenance.get("dataset")) in facts.datasets
        for region in _regions_of(scene, facts, spec, train_spec, ["val", "test"], trained):
            top, left, h, w = region.window
            crop = msi.crop(top * ratio, left * ratio, h * ratio, w * ratio)
            out.append(RealPairRegion(region=replace(region, key=f"{region.key}+real"), msi=crop,
                                      msi_matches_model=matches))  # fmt: skip
    return out, notes
