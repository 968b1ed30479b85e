"""Adapt a student to your camera without ground truth, then export it (ONNX + card with the adaptation).

Self-supervised on your own captures (spectra_distill/train/adapt.py): reduced-resolution pairs made from
the capture (both inputs degraded by the scale; the LR-HSI is the target) plus full-resolution consistency
with the inputs through the card's PSF and SRF. CPU-friendly: a 128x128 HR capture adapts in about a minute.

Examples:
  spectra-distill adapt --checkpoint runs/rs_phys/best.pt --lrhsi cap.lrhsi.npy --hrmsi cap.hrmsi.npy \\
      --out models/student-rs206-mycam.onnx
  spectra-distill adapt --checkpoint runs/rs_phys/best.pt --evaluate --report results/distill/adapt/rs206
Inputs are .npy float32 (bands, H, W) in the card's units (the LR-HSI on the model's band grid, the HR-MSI
in the card's MSI bands; `spectra-distill split-pairs` and the SDK's camera profiles produce such files).
`--evaluate` adapts on each held-out test scene of the split (simulated pair, inputs only) and scores the
result against the scene's truth, which adaptation never sees; it writes <report>/adapt.json and adapt.md.
Where it runs: on the host with this Python package (the device SDK does not train); from Node, run
`$SPECTRA_PYTHON -m spectra_distill adapt …` as a subprocess.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from spectra_distill.commands import add_network_arguments
from spectra_distill.data import default_data_root
from spectra_distill.data.atomic import atomic_path
from spectra_distill.data.splits import load_split
from spectra_distill.degrade.pipeline import WaldConfig, make_real_pair
from spectra_distill.degrade.psf import make_psf
from spectra_distill.errors import SRFCoverageError
from spectra_distill.evaluate.generalisation import CameraCase, simulate, test_scenes
from spectra_distill.evaluate.methods import BaselineMethod, torch_method
from spectra_distill.evaluate.regions import EvalRegion, ModelFacts, held_out_regions, real_pair_regions
from spectra_distill.export.model import export_model, load_checkpoint_model
from spectra_distill.log import output
from spectra_distill.metrics import evaluate as score
from spectra_distill.models.net import FusionNet
from spectra_distill.train.adapt import AdaptConfig, adapt

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser, "adapt")
    parser.add_argument("--lrhsi", type=Path, help="captured LR-HSI, .npy (B, h, w)")
    parser.add_argument("--hrmsi", type=Path, help="captured HR-MSI, .npy (b, s*h, s*w)")
    parser.add_argument("--out", type=Path, help="adapted model .onnx (its .card.json is written beside it)")
    parser.add_argument(
        "--band-valid",
        type=Path,
        help="JSON list of B booleans: model bands the capture covers (the rest are zeros, left out of "
        "every loss)",
    )
    parser.add_argument(
        "--provenance",
        type=Path,
        help="JSON recorded in the card's adaptation block (spectra adapt: the camera)",
    )
    parser.add_argument(
        "--evaluate", action="store_true", help="adapt on each test scene and score against its truth"
    )
    parser.add_argument("--report", type=Path, help="folder for adapt.json / adapt.md (--evaluate)")
    parser.add_argument(
        "--on",
        choices=["test", "val", "real"],
        default="test",
        help="--evaluate on the split's unseen test scenes (simulated pairs), on the real-pair scenes' real "
        "HR-MSI (Houston's RGB, reduced-resolution protocol), or on the validation regions of the training "
        "scenes (where settings are chosen; no classical baselines)",
    )
    parser.add_argument(
        "--data", type=Path, help="data root for --evaluate (default: ../shared/data or $SPECTRA_DATA)"
    )
    d = AdaptConfig()
    parser.add_argument("--steps", type=int, default=d.steps, help=f"optimiser steps (default {d.steps})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr})")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=d.max_seconds,
        help="wall-clock budget of the whole adaptation (the steps stop once the next could cross it), "
        f"0 = none (default {d.max_seconds:g})",
    )


def _config(args: argparse.Namespace) -> AdaptConfig:
    if args.steps < 1:
        raise SystemExit(f"--steps must be >= 1; got {args.steps}")
    if args.max_seconds < 0:
        raise SystemExit(f"--max-seconds must be >= 0; got {args.max_seconds}")
    return AdaptConfig(steps=args.steps, lr=args.lr, max_seconds=args.max_seconds)


def run(args: argparse.Namespace) -> int:
    if args.evaluate == (args.lrhsi is not None):
        raise SystemExit("give either --lrhsi/--hrmsi/--out (adapt a capture) or --evaluate --report DIR")
    model, ckpt = load_checkpoint_model(args.checkpoint, args.role)
    model.eval()
    card = ckpt["card"]
    cfg = _config(args)
    if args.evaluate:
        if args.report is None:
            raise SystemExit("--evaluate needs --report DIR")
        return _evaluate(model, card, args, cfg)
    if args.hrmsi is None or args.out is None:
        raise SystemExit("adapting a capture needs --lrhsi, --hrmsi and --out")
    lr, msi = np.load(args.lrhsi), np.load(args.hrmsi)
    if lr.ndim != 3 or msi.ndim != 3 or not (np.isfinite(lr).all() and np.isfinite(msi).all()):
        raise SystemExit("--lrhsi and --hrmsi must be finite (bands, H, W) arrays")
    bands, msi_bands = len(card["wavelengths"]), len(card["msi"]["band_names"])
    if lr.shape[0] != bands or msi.shape[0] != msi_bands:
        raise SystemExit(
            f"band counts {lr.shape[0]} / {msi.shape[0]} do not match the model's {bands} / {msi_bands}; "
            "put the capture on the model grid first (spectra adapt --camera does)"
        )
    band_valid = (
        None if args.band_valid is None else np.asarray(json.loads(args.band_valid.read_text()), dtype=bool)
    )
    provenance = {} if args.provenance is None else json.loads(args.provenance.read_text())
    try:
        tuned, report = adapt(model, card, lr, msi, cfg, band_valid=band_valid)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    training = {
        "checkpoint": args.checkpoint.name,
        "steps": ckpt.get("step"),
        "adaptation": {
            "lrhsi": str(args.lrhsi),
            "hrmsi": str(args.hrmsi),
            "shape": list(lr.shape),
            **({"band_valid": band_valid.tolist()} if band_valid is not None else {}),
            **provenance,
            **asdict(report),
        },
    }
    result = export_model(tuned, card, args.out, role=args.role, training=training, source=args.checkpoint)
    before, after = report.consistency_before, report.consistency_after
    output(
        f"adapted in {report.seconds:.0f} s: consistency spatial {before['spatial']:.2f} -> "
        f"{after['spatial']:.2f} dB, spectral {before['spectral']:.2f} -> {after['spectral']:.2f} dB; "
        f"wrote {result.onnx_path} and {result.card_path}"
    )
    return 0


def _evaluate(model: FusionNet, card: dict[str, Any], args: argparse.Namespace, cfg: AdaptConfig) -> int:
    root = (args.data or default_data_root()).resolve()
    facts = ModelFacts.from_card(card, args.checkpoint)
    wald = WaldConfig(scale=facts.scale, psf_kernel_size=facts.psf_kernel_size, psf_sigma=facts.psf_sigma,
                      msi=facts.msi_preset, srf_dir=str(root / "srf"))  # fmt: skip
    spec = load_split(facts.split)
    if args.on == "real":
        found, notes = real_pair_regions(facts, root, spec, spec)
        for note in notes:
            logger.warning(note)
        psf = make_psf(facts.scale, facts.psf_kernel_size, facts.psf_sigma)
        cases = [
            (p.region, make_real_pair(p.region.cube, p.msi, facts.scale, psf))
            for p in found
            if p.msi_matches_model
        ]
    else:
        regions = (
            test_scenes(facts, root)
            if args.on == "test"
            else held_out_regions(facts, root, spec, spec, "val")[0]
        )
        cases = []
        for i, region in enumerate(regions):
            try:
                cases.append((region, simulate(region.cube, facts, wald, CameraCase("nominal"), seed=i)))
            except SRFCoverageError:
                continue
    rows = []
    for region, pair in tqdm(cases, desc=f"adapt --evaluate --on {args.on}", unit="scene"):
        truth = region.cube.data
        # the real RGB has no-data gaps of its own (Houston: a zero-filled strip)
        masks = [m for m in (region.cube.valid, pair.hrmsi.valid) if m is not None]
        valid = np.logical_and.reduce(masks) if masks else None

        def psnr_of(
            pred: np.ndarray, region: EvalRegion = region, truth: np.ndarray = truth, valid=valid
        ) -> float:
            return float(score(pred, truth, facts.scale, valid, region.band_mask).psnr)

        before = psnr_of(torch_method("before", model, "cpu").predict(pair).cube)
        try:
            tuned, report = adapt(model, card, pair.lrhsi.data, pair.hrmsi.data, cfg, progress=False)
        except ValueError as exc:  # a region too small to reduce by the scale (thin validation strips)
            logger.warning("%s skipped: %s", region.key, exc)
            continue
        after = psnr_of(torch_method("after", tuned, "cpu").predict(pair).cube)
        classical = {
            n: psnr_of(BaselineMethod(name=n, kind="baseline").predict(pair).cube)
            for n in (("mtf_glp_hpm", "cnmf") if args.on != "val" else ())
        }
        best = max(classical, key=classical.get) if classical else "-"
        rows.append({
            "scene": region.key if args.on != "test" else region.scene, "before": before, "after": after,
            "best_classical": best, "best_classical_psnr": classical.get(best, float("nan")),
            "adapt_seconds": report.seconds, "steps_done": report.steps_done,
            "consistency_before": report.consistency_before, "consistency_after": report.consistency_after,
        })  # fmt: skip
        logger.info("%s: %.2f -> %.2f dB in %.0f s", rows[-1]["scene"], before, after, report.seconds)
    args.report.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.report / "adapt.json") as tmp:
        tmp.write_text(
            json.dumps(
                {"checkpoint": str(args.checkpoint), "on": args.on, "config": asdict(cfg), "rows": rows},
                indent=2,
            )
        )
    where = {
        "test": "unseen test scenes",
        "real": "real pairs (real HR-MSI, reduced-resolution protocol)",
        "val": "validation regions (for choosing settings)",
    }[args.on]
    lines = [
        f"# Adaptation without ground truth on {where}",
        "",
        f"Checkpoint `{args.checkpoint}`; settings ({asdict(cfg)});",
        "each scene's pair (simulated with the nominal camera, or the real HR-MSI with both inputs reduced",
        "by the scale) is the only input; the truth scores the result and nothing else. Regenerate:",
        f"`spectra-distill adapt --checkpoint {args.checkpoint} --evaluate --on {args.on} "
        f"--steps {cfg.steps} --lr {cfg.lr:g} --max-seconds {cfg.max_seconds:g} --report {args.report}`",
        "",
        "| scene | before (dB) | after (dB) | gain | best classical | after − best | adapt s | steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gain, margin = r["after"] - r["before"], r["after"] - r["best_classical_psnr"]
        lines.append(
            f"| {r['scene']} | {r['before']:.2f} | {r['after']:.2f} | {gain:+.2f} | "
            f"{r['best_classical']} {r['best_classical_psnr']:.2f} | {margin:+.2f} | "
            f"{r['adapt_seconds']:.0f} | {r['steps_done']} |"
        )
    if rows:
        gain = np.mean([r["after"] - r["before"] for r in rows])
        margin = np.mean([r["after"] - r["best_classical_psnr"] for r in rows])  # nan on --on val
        lines.append(f"| **mean** | | | **{gain:+.2f}** | | **{margin:+.2f}** | | |")
    with atomic_path(args.report / "adapt.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    output(f"wrote {args.report / 'adapt.md'}")
    return 0
