"""Evaluate a checkpoint's teacher and student (and optionally its ONNX export) against the baselines.

Every region is fused whole (one forward per region); each method is scored with
:func:`spectra_distill.metrics.evaluate` on the region's valid pixels and scored bands (valid in the region
and learnt by the model). The same regions are then re-simulated with the LR-HSI misregistered by 1-3 HR
pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from spectra_distill.baselines.methods import BASELINES
from spectra_distill.data import default_data_root, load_split
from spectra_distill.degrade.misregister import MAX_SHIFT_PX
from spectra_distill.degrade.pipeline import FusionPair, WaldConfig, make_pair, make_real_pair
from spectra_distill.degrade.psf import make_psf
from spectra_distill.errors import DatasetError, ScaleError, SRFCoverageError
from spectra_distill.evaluate.figures import quicklook, spectra_plot
from spectra_distill.evaluate.methods import BaselineMethod, Method, Prediction, onnx_method, torch_method
from spectra_distill.evaluate.regions import (
    EvalRegion,
    ModelFacts,
    RealPairRegion,
    held_out_regions,
    real_pair_regions,
)
from spectra_distill.export.model import load_checkpoint_model
from spectra_distill.metrics import evaluate as score
from spectra_distill.metrics.quality import SSIM_WINDOW
from spectra_distill.models.factory import ROLES
from spectra_distill.train.checkpoint import load_checkpoint

METRIC_KEYS = ("psnr", "sam", "ergas", "rmse", "ssim")


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation.

    Attributes:
        checkpoint: Training checkpoint (``best.pt``/``last.pt``) holding ``card`` and the networks.
        onnx: An exported model of this checkpoint to score through onnxruntime as well.
        data: Data root; None = ``default_data_root()``.
        split: Split whose regions are scored; None = the one the model was trained with.
        role: 'val' or 'test' regions.
        misregistration: LR-HSI shifts in HR pixels (0-3) for the robustness table.
        baselines: Classical baselines to compare against.
        real_pair: Also score scenes with a real co-registered HR-MSI (Houston), reduced-resolution protocol.
        device: 'cpu' or 'cuda' for the networks.
        out: Output folder for JSON, Markdown and figures.
        figures: Write quicklook and spectra PNGs.
        command: The command line recorded in the outputs.
    """

    checkpoint: Path
    out: Path
    onnx: Path | None = None
    data: Path | None = None
    split: str | None = None
    role: str = "val"
    misregistration: tuple[int, ...] = (0, 1, 2, 3)
    baselines: tuple[str, ...] = tuple(BASELINES)
    real_pair: bool = False
    device: str = "cpu"
    figures: bool = True
    command: str = ""

    def __post_init__(self) -> None:
        if self.role not in ("val", "test"):
            raise ValueError(f"Unknown role {self.role!r}; known: val, test")
        bad = [k for k in self.misregistration if not 0 <= k <= MAX_SHIFT_PX]
        if bad or not self.misregistration:
            raise ValueError(
                f"misregistration shifts must be 0-{MAX_SHIFT_PX} HR pixels; got {self.misregistration}"
            )
        unknown = sorted(set(self.baselines) - set(BASELINES))
        if unknown:
            raise ValueError(f"Unknown baseline(s) {', '.join(unknown)}; known: {', '.join(BASELINES)}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"Unknown device {self.device!r}; known: cpu, cuda")


@dataclass
class EvalResult:
    """Everything evaluation measured (``as_json`` is the written JSON).

    Attributes:
        rows: One per (region, method, misregistration): metrics, ms, GMACs, tiled.
        real_rows: The same for real pairs (misregistration 0).
        regions: Region descriptions.
        methods: Method descriptions (params, MACs per HR pixel).
        skipped: (what, reason) for regions or methods left out.
        figures: Written PNG paths.
        notes: Facts a reader needs (excluded scenes, tiling).
        header: Checkpoint, split, role, model facts.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    real_rows: list[dict[str, Any]] = field(default_factory=list)
    regions: list[dict[str, Any]] = field(default_factory=list)
    methods: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    header: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            **self.header,
            "methods": self.methods,
            "regions": self.regions,
            "per_dataset": aggregate(self.rows, ("dataset", "method", "misregistration_px")),
            "misregistration": aggregate(
                aggregate(self.rows, ("dataset", "method", "misregistration_px")),
                ("method", "misregistration_px"),
            ),
            "real_pair": {
                "per_dataset": aggregate(self.real_rows, ("dataset", "method")),
                "results": self.real_rows,
            },
            "results": self.rows,
            "skipped": self.skipped,
            "figures": self.figures,
            "notes": self.notes,
        }


def aggregate(rows: Sequence[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Mean of the metrics, ms and GMACs over rows sharing ``keys`` (in first-seen order); counts them."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    out = []
    for key, members in groups.items():
        entry: dict[str, Any] = dict(zip(keys, key, strict=True))
        entry["regions"] = int(sum(m.get("regions", 1) for m in members))
        for k in (*METRIC_KEYS, "ms", "gmacs"):
            vals = [m[k] for m in members if m.get(k) is not None]
            entry[k] = float(np.mean(vals)) if vals else None
        entry["tiled"] = any(m.get("tiled", False) for m in members)
        out.append(entry)
    return out


def _models(cfg: EvalConfig, facts: ModelFacts) -> list[Method]:
    ckpt = load_checkpoint(cfg.checkpoint, required=("card", "model_config"))
    methods: list[Method] = []
    for role in ROLES:
        if role in ckpt and role in ckpt["model_config"]:
            model, _ = load_checkpoint_model(cfg.checkpoint, role)
            if model.config.hsi_bands != facts.wavelengths.size:
                raise DatasetError(
                    f"{role} has {model.config.hsi_bands} bands but the card {facts.wavelengths.size}",
                    cfg.checkpoint,
                )
            methods.append(torch_method(role, model, cfg.device))
    if not methods:
        raise DatasetError("checkpoint holds neither a teacher nor a student", cfg.checkpoint)
    if cfg.onnx is not None:
        methods.append(onnx_method(cfg.onnx, facts, cfg.device))
    return methods


def wald_config(facts: ModelFacts, root: Path, shift: int) -> WaldConfig:
    return WaldConfig(
        scale=facts.scale,
        psf_kernel_size=facts.psf_kernel_size,
        psf_sigma=facts.psf_sigma,
        msi=facts.msi_preset,
        misregistration_px=shift,
        srf_dir=str(root / "srf"),
    )


def _row(
    region: EvalRegion, method: Method, pred: Prediction, valid: np.ndarray | None, scale: int
) -> dict[str, Any]:
    gt = region.cube
    metrics = score(pred.cube, gt.data, scale, valid, region.band_mask).as_dict()
    macs = None if method.macs_per_hr_pixel is None else method.macs_per_hr_pixel * gt.height * gt.width / 1e9
    return {
        "dataset": region.dataset,
        "scene": region.scene,
        "region": region.key,
        "method": method.name,
        # SAM is NaN when every spectrum has zero norm; None keeps the JSON valid
        **{k: float(v) if np.isfinite(v) else None for k, v in metrics.items()},
        "ms": round(pred.ms, 3),
        "gmacs": macs,
        "tiled": pred.tiled,
    }


def too_small(region: EvalRegion, scale: int) -> str | None:
    side = max(SSIM_WINDOW, 4 * scale)
    if min(region.cube.height, region.cube.width) < side:
        size = f"{region.cube.height}x{region.cube.width}"
        return f"region {size} is smaller than {side} px (SSIM window, LR streams)"
    return None


class _Evaluator:
    """Runs the methods over regions and draws the figures of the aligned pass."""

    def __init__(self, cfg: EvalConfig, facts: ModelFacts, methods: list[Method], result: EvalResult) -> None:
        self.cfg, self.facts, self.methods, self.result = cfg, facts, methods, result

    def fuse_all(
        self,
        region: EvalRegion,
        pair: FusionPair,
        valid: np.ndarray | None,
        methods: list[Method],
        shift: int | None,
    ) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        rows, preds = [], {}
        for method in methods:
            pred = method.predict(pair)
            row = _row(region, method, pred, valid, self.facts.scale)
            if shift is not None:
                row["misregistration_px"] = shift
            if pred.tiled:
                note = (
                    f"{method.name} on {region.key}: the whole region did not fit in memory; "
                    "fused in overlapping tiles"
                )
                if note not in self.result.notes:
                    self.result.notes.append(note)
            rows.append(row)
            preds[method.name] = pred.cube
        return rows, preds

    def figures(
        self,
        region: EvalRegion,
        rows: list[dict[str, Any]],
        preds: dict[str, np.ndarray],
        valid: np.ndarray | None,
        tag: str,
    ) -> None:
        baselines = [r for r in rows if r["method"] in self.cfg.baselines]
        shown = {r["method"]: preds[r["method"]] for r in rows if r["method"] not in self.cfg.baselines}
        if baselines:
            best = max(baselines, key=lambda r: r["psnr"])["method"]
            shown[f"{best} (best baseline)"] = preds[best]
        stem = region.key.replace("/", "_").replace("#", "_").replace("+", "_")
        title = f"{region.key} ({region.dataset}), window {list(region.window)}{tag}"
        gt = region.cube
        figdir = self.cfg.out / "figures" / self.cfg.role
        args = (gt.data, shown, gt.wavelengths, region.band_mask, valid)
        for path in (
            quicklook(figdir / f"{stem}_quicklook.png", title, *args),
            spectra_plot(figdir / f"{stem}_spectra.png", title, *args),
        ):
            self.result.figures.append(str(path.relative_to(self.cfg.out)))

    def simulated(self, regions: list[EvalRegion], root: Path) -> None:
        jobs = [(k, r) for k in self.cfg.misregistration for r in regions]
        for shift, region in tqdm(jobs, desc="evaluate", unit="region"):
            try:
                pair = make_pair(region.cube, wald_config(self.facts, root, shift))
            except (SRFCoverageError, DatasetError, ScaleError) as exc:
                self.result.skipped.append({"what": f"{region.key} @ {shift} px", "reason": str(exc)})
                continue
            rows, preds = self.fuse_all(region, pair, region.cube.valid, self.methods, shift)
            self.result.rows += rows
            if shift == 0 and self.cfg.figures:
                self.figures(region, rows, preds, region.cube.valid, "")

    def real(self, pairs: list[RealPairRegion]) -> None:
        for item in tqdm(pairs, desc="real pairs", unit="region"):
            region = item.region
            psf = make_psf(self.facts.scale, self.facts.psf_kernel_size, self.facts.psf_sigma)
            pair = make_real_pair(region.cube, item.msi, self.facts.scale, psf)
            masks = [m for m in (region.cube.valid, pair.hrmsi.valid) if m is not None]
            valid = np.logical_and.reduce(masks) if masks else None
            methods = [m for m in self.methods if m.kind == "baseline" or item.msi_matches_model]
            if not item.msi_matches_model:
                self.result.skipped.append({
                    "what": f"networks on {region.key}",
                    "reason": f"the real MSI has bands {item.msi.provenance.get('band_names')}; "
                    f"the model takes {list(self.facts.msi_band_names)}",
                })  # fmt: skip
            rows, preds = self.fuse_all(region, pair, valid, methods, None)
            self.result.real_rows += rows
            if self.cfg.figures:
                self.figures(region, rows, preds, valid, ", real HR-MSI")


def evaluate_checkpoint(cfg: EvalConfig) -> EvalResult:
    """Score the checkpoint's networks, the ONNX export and the baselines on held-out regions.

    Raises:
        CheckpointError: unreadable checkpoint or ONNX, or weights that do not fit.
        DatasetError: unknown datasets/split, no region to score, or a region overlapping training pixels.
    """
    root = (cfg.data or default_data_root()).resolve()
    ckpt = load_checkpoint(cfg.checkpoint, required=("card", "model_config"))
    facts = ModelFacts.from_card(ckpt["card"], cfg.checkpoint)
    train_spec = load_split(facts.split)
    spec = load_split(cfg.split) if cfg.split is not None else train_spec
    result = EvalResult()
    regions, notes = held_out_regions(facts, root, spec, train_spec, cfg.role)
    result.notes += notes
    usable = []
    for region in regions:
        reason = too_small(region, facts.scale)
        if reason:
            result.skipped.append({"what": region.key, "reason": reason})
        else:
            usable.append(region)
    if not usable:
        raise DatasetError(
            f"no {cfg.role} region of {', '.join(facts.datasets)} in split {spec.name!r} is large enough "
            "to score",
            root,
        )
    methods = _models(cfg, facts) + [BaselineMethod(name=b, kind="baseline") for b in cfg.baselines]
    result.methods = [m.describe() for m in methods]
    for m in result.methods:
        if cfg.device == "cuda" and m["kind"] == "onnx" and "CUDAExecutionProvider" not in m["providers"]:
            result.notes.append(f"{m['name']}: this onnxruntime has no CUDA provider; it ran on the CPU")
    result.regions = [r.describe() for r in usable]
    result.header = {
        "command": cfg.command,
        "checkpoint": str(cfg.checkpoint),
        "step": ckpt.get("step"),
        "onnx": None if cfg.onnx is None else str(cfg.onnx),
        "data_root": str(root),
        "split": spec.name,
        "train_split": train_spec.name,
        "role": cfg.role,
        "device": cfg.device,
        "model": {
            "bands": int(facts.wavelengths.size),
            "wavelengths_nm": [float(facts.wavelengths[0]), float(facts.wavelengths[-1])],
            "msi": facts.msi_preset,
            "msi_bands": list(facts.msi_band_names),
            "scale": facts.scale,
            "psf": {"sigma": facts.psf_sigma, "kernel_size": facts.psf_kernel_size},
            "datasets": list(facts.datasets),
        },
    }
    cfg.out.mkdir(parents=True, exist_ok=True)
    runner = _Evaluator(cfg, facts, methods, result)
    runner.simulated(usable, root)
    if cfg.real_pair:
        found, real_notes = real_pair_regions(facts, root, spec, train_spec)
        result.notes += real_notes
        pairs = [p for p in found if not too_small(p.region, facts.scale)]
        if not pairs:
            result.notes.append(
                f"no scene of split {spec.name!r} has a real HR-MSI region large enough to score"
            )
        runner.real(pairs)
    return result
