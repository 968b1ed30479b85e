"""Parameters and multiply-accumulates of the teacher/student (meta device), optionally CPU time per step."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from spectra_distill.errors import ConfigError, ScaleError
from spectra_distill.log import output
from spectra_distill.models.complexity import measure_complexity, time_cotraining_step, time_inference
from spectra_distill.models.factory import PRESETS, ROLES, model_config
from spectra_distill.models.fusion import FUSIONS, QK_NORMS
from spectra_distill.train.config import add_override_option, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=tuple(PRESETS), default=None, help="default: paper")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="experiment file: its model preset and per-role overrides (e.g. lr_skip, head_out_groups)",
    )
    add_override_option(parser, "override a value of --config, as in train (e.g. model.student.head_rank=32)")
    parser.add_argument("--bands", type=int, default=172, help="HSI bands B")
    parser.add_argument("--msi-bands", type=int, default=4, help="MSI bands b")
    parser.add_argument("--size", type=int, default=256, help="HR size H = W (a multiple of the scale)")
    parser.add_argument("--scale", type=int, default=4, help="spatial ratio s")
    parser.add_argument("--role", choices=(*ROLES, "both"), default="both", help="network(s) to measure")
    parser.add_argument("--fusion", choices=tuple(FUSIONS), default=None, help="override the preset's fusion")
    parser.add_argument("--qk-norm", choices=QK_NORMS, default=None, help="override the attention's qk_norm")
    parser.add_argument(
        "--time-batch",
        type=int,
        default=0,
        help="if > 0, also time one co-training iteration (teacher + student) at this batch and --size",
    )
    parser.add_argument("--time-iters", type=int, default=5, help="timed iterations (median reported)")
    parser.add_argument(
        "--time-inference", action="store_true", help="also time one batch-1 forward pass per network"
    )
    parser.add_argument("--device", default="cpu", help="device for the timings (cpu, cuda)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads for the timing")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")


def run(args: argparse.Namespace) -> int:
    if args.size % args.scale:
        raise ScaleError(f"--size {args.size} must be a multiple of --scale {args.scale}")
    overrides: dict[str, Any] = {}
    if args.fusion:
        overrides["fusion"] = args.fusion
    if args.qk_norm:
        overrides["qk_norm"] = args.qk_norm
    role_overrides: dict[str, dict[str, Any]] = {role: {} for role in ROLES}
    preset = args.preset
    if args.overrides and not args.config:
        raise ConfigError("--set changes an experiment file; give it with --config")
    if args.config:
        experiment = load_config(args.config, args.overrides).model
        preset = preset or experiment.preset
        role_overrides = {"teacher": dict(experiment.teacher), "student": dict(experiment.student)}
    args.preset = preset or "paper"
    configs = {
        role: model_config(
            role, args.preset, args.bands, args.msi_bands, args.scale, **{**role_overrides[role], **overrides}
        )
        for role in ROLES
    }
    lr = args.size // args.scale
    report: dict[str, Any] = {
        "preset": args.preset,
        "bands": args.bands,
        "msi_bands": args.msi_bands,
        "hr_size": args.size,
        "scale": args.scale,
        "overrides": {role: {**role_overrides[role], **overrides} for role in ROLES},
    }
    roles = ROLES if args.role == "both" else (args.role,)
    for role in roles:
        c = measure_complexity(configs[role], lr, lr)
        report[role] = {"params": c.params, "macs": c.macs, "macs_per_hr_pixel": c.macs_per_hr_pixel}
        output(
            f"{role:8s} {args.preset}: {c.params / 1e6:8.3f} M params  {c.macs / 1e9:9.2f} G MACs "
            f"at {args.bands}x{lr}x{lr} + {args.msi_bands}x{args.size}x{args.size}  "
            f"({c.macs_per_hr_pixel:,.0f} MACs / HR pixel)"
        )
    if args.time_batch > 0:
        torch.set_num_threads(args.threads)
        timing = time_cotraining_step(
            configs["teacher"],
            configs["student"],
            args.size,
            args.time_batch,
            args.time_iters,
            device=args.device,
        )
        report["timing"] = {
            "device": args.device,
            "batch": args.time_batch,
            "threads": args.threads,
            **timing._asdict(),
            "iteration_ms": timing.teacher_ms + timing.student_ms,
            "iteration_cpu_ms": timing.teacher_cpu_ms + timing.student_cpu_ms,
        }
        t = report["timing"]
        output(
            f"co-training iteration, batch {args.time_batch}, {args.size}x{args.size} HR, {args.device}, "
            f"{args.threads} threads: teacher {t['teacher_ms']:.1f} ms + student {t['student_ms']:.1f} ms "
            f"= {t['iteration_ms']:.1f} ms wall; {t['iteration_cpu_ms']:.1f} ms process CPU"
        )
    if args.time_inference:
        torch.set_num_threads(args.threads)
        for role in roles:
            ms, peak = time_inference(configs[role], args.size, 1, args.time_iters, device=args.device)
            report[role]["inference_ms"] = ms
            report[role]["inference_peak_mib"] = peak
            mem = "" if peak is None else f", peak {peak:.0f} MiB allocated"
            output(f"{role:8s} forward, batch 1, {args.size}x{args.size} HR, {args.device}: {ms:.2f} ms{mem}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0
