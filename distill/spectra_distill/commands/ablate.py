"""Ablation: train variants of one experiment on an equal budget and score each on the unseen scenes.

An ablation file (`options/ablation/*.yaml`) names the experiment, the shared `--set` overrides (the budget),
the camera cases, and the variants, each a list of overrides that removes one part. Every variant is trained
into `<runs>/<variant>` (finished runs are kept, interrupted ones resumed) and its student is scored on the
test scenes of the first variant's split group, so every variant meets the same scenes. Example:
spectra-distill ablate --config distill/spectra_distill/options/ablation/cave31.yaml
Writes <out>/ablation.json and <out>/ablation.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from spectra_distill.data import default_data_root
from spectra_distill.data.atomic import atomic_path
from spectra_distill.errors import ConfigError
from spectra_distill.evaluate.generalisation import (
    GeneralisationResult,
    baselines,
    cases_named,
    run_generalisation,
    to_markdown,
)
from spectra_distill.evaluate.methods import torch_method
from spectra_distill.evaluate.regions import ModelFacts
from spectra_distill.export.model import load_checkpoint_model
from spectra_distill.log import output
from spectra_distill.train import load_config, run_training
from spectra_distill.train.checkpoint import load_checkpoint

logger = logging.getLogger(__name__)

CLASSICAL = ("bicubic", "gsa", "mtf_glp_hpm", "cnmf")


@dataclass(frozen=True)
class Variant:
    """One trained variant: `removes` says what it lacks against the first (reference) variant."""

    name: str
    removes: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class AblationSpec:
    """An ablation file, read by `read_spec`."""

    experiment: Path
    overrides: tuple[str, ...]
    cases: tuple[str, ...]
    runs: Path
    out: Path
    variants: tuple[Variant, ...]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def read_spec(path: Path) -> AblationSpec:
    """Read and check an ablation file; the experiment path is relative to it.

    Raises:
        ConfigError: unreadable file, a missing key, an unknown case, or duplicate variant names.
    """
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the ablation file: {exc}", path) from exc
    need = ("experiment", "runs", "out", "variants")
    if not isinstance(raw, dict) or any(k not in raw for k in need):
        raise ConfigError(
            f"an ablation file needs the keys {', '.join(need)} (and optionally set, cases)", path
        )
    cases = tuple(raw.get("cases") or ["nominal"])
    try:
        cases_named(cases)
    except ValueError as exc:
        raise ConfigError(str(exc), path) from exc
    if "nominal" not in cases:
        raise ConfigError("cases must include 'nominal' (the margins are measured on it)", path)
    variants = []
    for v in raw["variants"]:
        if not isinstance(v, dict) or "name" not in v or "removes" not in v:
            raise ConfigError("each variant needs a name and what it removes ('removes')", path)
        variants.append(Variant(str(v["name"]), str(v["removes"]), tuple(v.get("set") or ())))
    if not variants or len({_slug(v.name) for v in variants}) != len(variants):
        raise ConfigError("variants must be a non-empty list with distinct names", path)
    return AblationSpec(
        experiment=(path.parent / raw["experiment"]).resolve(),
        overrides=tuple(raw.get("set") or ()),
        cases=cases,
        runs=Path(raw["runs"]),
        out=Path(raw["out"]),
        variants=tuple(variants),
    )


def _finished_step(run_dir: Path) -> int | None:
    last = run_dir / "last.pt"
    return int(load_checkpoint(last, required=("step",))["step"]) if last.is_file() else None


def train_variant(spec: AblationSpec, variant: Variant, command: str) -> Path:
    """Train (or resume, or keep) one variant; returns its run directory."""
    cfg = load_config(spec.experiment, [*spec.overrides, *variant.overrides])
    run_dir = spec.runs / _slug(variant.name)
    step = _finished_step(run_dir)
    if step is not None and step >= cfg.optim.total_steps:
        logger.info("%s: finished (step %d), kept", variant.name, step)
        return run_dir
    output(f"ablation: training {variant.name!r} into {run_dir}")
    run_training(cfg, run_dir, resume=step is not None, command=command)
    return run_dir


def summarise(spec: AblationSpec, result: GeneralisationResult) -> list[dict[str, Any]]:
    """Per variant: mean PSNR/SAM per case, and the nominal margin over the best classical method."""
    rows = result.rows
    nominal = [r for r in rows if r["case"] == "nominal"]
    best = {
        s: max((r for r in nominal if r["scene"] == s and r["method"] in CLASSICAL), key=lambda r: r["psnr"])
        for s in result.scenes
    }
    summary = []
    for v in spec.variants:
        mine = {r["scene"]: r for r in nominal if r["method"] == v.name}
        margins = [mine[s]["psnr"] - best[s]["psnr"] for s in result.scenes]
        sams = [mine[s]["sam"] for s in result.scenes]
        per_case = {
            c: float(np.mean([r["psnr"] for r in rows if r["case"] == c and r["method"] == v.name]))
            for c in spec.cases
        }
        summary.append({
            "variant": v.name, "removes": v.removes, "psnr": per_case, "margin_mean": float(np.mean(margins)),
            "margin_min": float(np.min(margins)), "sam": float(np.mean(sams)),
            "best_classical_sam": float(np.mean([best[s]["sam"] for s in result.scenes])),
        })  # fmt: skip
    return summary


def summary_markdown(spec: AblationSpec, summary: list[dict[str, Any]]) -> list[str]:
    ref = summary[0]
    extra = [c for c in spec.cases if c != "nominal"]
    out = [
        "| variant | removes | PSNR (dB) | Δ vs reference | − best classical, mean | worst scene | SAM (°) "
        + "".join(f"| {c} (dB) | Δ " for c in extra)
        + "|",
        "|---|---|---|---|---|---|---|" + "---|---|" * len(extra),
    ]
    for s in summary:
        cells = [
            s["variant"], s["removes"], f"{s['psnr']['nominal']:.2f}",
            f"{s['psnr']['nominal'] - ref['psnr']['nominal']:+.2f}", f"{s['margin_mean']:+.2f}",
            f"{s['margin_min']:+.2f}", f"{s['sam']:.2f}",
        ]  # fmt: skip
        for c in extra:
            cells += [f"{s['psnr'][c]:.2f}", f"{s['psnr'][c] - ref['psnr'][c]:+.2f}"]
        out.append("| " + " | ".join(cells) + " |")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, required=True, help="ablation file, e.g. options/ablation/cave31.yaml"
    )
    parser.add_argument("--data", type=Path, help="data root (default: ../shared/data or $SPECTRA_DATA)")
    parser.add_argument(
        "--variants",
        nargs="*",
        help="train only these variants (names from the file); to split the work between processes",
    )
    parser.add_argument("--train-only", action="store_true", help="train, do not score")


def run(args: argparse.Namespace) -> int:
    spec = read_spec(args.config)
    names = [v.name for v in spec.variants]
    chosen = args.variants or names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise ConfigError(f"unknown variant(s) {', '.join(map(repr, unknown))}; known: {', '.join(names)}")
    if set(chosen) != set(names) and not args.train_only:
        raise ConfigError("scoring needs every variant: add --train-only, or leave out --variants")
    run_dirs = {v.name: train_variant(spec, v, args.invocation) for v in spec.variants if v.name in chosen}
    if args.train_only:
        return 0
    root = (args.data or default_data_root()).resolve()
    checkpoints = {n: d / "best.pt" for n, d in run_dirs.items()}
    reference = load_checkpoint(checkpoints[names[0]], required=("card", "model_config", "step"))
    facts = ModelFacts.from_card(reference["card"], checkpoints[names[0]])
    methods = [torch_method(n, load_checkpoint_model(p, "student")[0], "cpu") for n, p in checkpoints.items()]
    methods += baselines(CLASSICAL)
    cases = cases_named(spec.cases)
    result = run_generalisation(facts, methods, root, cases)
    summary = summarise(spec, result)
    header = [
        f"Regenerate: `{args.invocation}`",
        "",
        f"Each variant is `{spec.experiment.name}` with `{' '.join(spec.overrides)}` (the same budget and "
        f"seed for all; step {reference['step']}) and its own overrides. Scored: the student, on the whole "
        "test scenes of the reference variant's split group (declared before training, used for no training "
        "and no choice). Reference = the first row, the shipped recipe on this budget. Best classical = per "
        "scene the better of CNMF and MTF-GLP-HPM (GSA and bicubic never win).",
        "",
        *summary_markdown(spec, summary),
        "",
        "Variants: "
        + "; ".join(f"**{v.name}**: `{' '.join(v.overrides) or '(none)'}`" for v in spec.variants)
        + ".",
    ]
    spec.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(spec.out / "ablation.json") as tmp:
        tmp.write_text(json.dumps({"summary": summary, "rows": result.rows, "gates": result.gates}, indent=1))
    markdown = to_markdown(f"Ablation: {spec.experiment.stem}", result, header)
    with atomic_path(spec.out / "ablation.md") as tmp:
        tmp.write_text(markdown + "\n")
    output(f"wrote {spec.out / 'ablation.md'}")
    return 0
