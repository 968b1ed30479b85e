"""Evaluate a checkpoint's teacher and student (and its ONNX export) against the classical baselines.

Example: spectra-distill evaluate --checkpoint runs/cave31_rgb_x4/best.pt --role val
Writes <out>/eval-<role>.json, <out>/eval-<role>.md and figures under <out>/figures/<role>/.
"""

from __future__ import annotations

import argparse
import logging
import shlex
from pathlib import Path

from spectra_distill.baselines.methods import BASELINES
from spectra_distill.errors import ConfigError
from spectra_distill.evaluate import EvalConfig, evaluate_checkpoint, write_report
from spectra_distill.log import output

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path("results/distill/eval")


def _shifts(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated HR pixel shifts like 0,1,2,3; got {text!r}"
        ) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="training checkpoint, e.g. runs/X/best.pt"
    )
    parser.add_argument(
        "--onnx", type=Path, help="exported model of this checkpoint, scored through onnxruntime"
    )
    parser.add_argument("--data", type=Path, help="data root (default: ../shared/data or $SPECTRA_DATA)")
    parser.add_argument("--split", help="split name or YAML (default: the one the model was trained with)")
    parser.add_argument("--role", choices=("val", "test"), default="val", help="held-out regions to score")
    parser.add_argument(
        "--misregistration",
        type=_shifts,
        default=(0, 1, 2, 3),
        help="LR-HSI shifts in HR pixels (default 0,1,2,3)",
    )
    parser.add_argument(
        "--baselines",
        nargs="*",
        choices=list(BASELINES),
        default=list(BASELINES),
        help="classical baselines to compare against (default: all; none with an empty list)",
    )
    parser.add_argument(
        "--real-pair",
        action="store_true",
        help="also score scenes with a real HR-MSI (Houston RGB), reported apart",
    )
    parser.add_argument("--out", type=Path, help=f"output folder (default {DEFAULT_OUT}/<run name>)")
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="device for the PyTorch models"
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the quicklook and spectra PNGs")


def run(args: argparse.Namespace) -> int:
    out = args.out or DEFAULT_OUT / (args.checkpoint.resolve().parent.name or "run")
    command = _command(args, out)
    try:
        cfg = EvalConfig(
            checkpoint=args.checkpoint,
            out=out,
            onnx=args.onnx,
            data=args.data,
            split=args.split,
            role=args.role,
            misregistration=args.misregistration,
            baselines=tuple(args.baselines),
            real_pair=args.real_pair,
            device=args.device,
            figures=not args.no_figures,
            command=command,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    result = evaluate_checkpoint(cfg)
    json_path, md_path = write_report(result.as_json(), out, f"eval-{args.role}")
    output(md_path.read_text())
    logger.info("wrote %s and %s (%d figures)", json_path, md_path, len(result.figures))
    return 0


def _command(args: argparse.Namespace, out: Path) -> str:
    """The command line that regenerates this evaluation, rebuilt from the parsed options."""
    parts = ["spectra-distill", "evaluate", "--checkpoint", str(args.checkpoint)]
    for flag, value in (("--onnx", args.onnx), ("--data", args.data), ("--split", args.split)):
        if value is not None:
            parts += [flag, str(value)]
    parts += ["--role", args.role, "--misregistration", ",".join(map(str, args.misregistration))]
    if list(args.baselines) != list(BASELINES):
        parts += ["--baselines", *args.baselines]
    if args.real_pair:
        parts.append("--real-pair")
    parts += ["--out", str(out), "--device", args.device]
    if args.no_figures:
        parts.append("--no-figures")
    return " ".join(shlex.quote(p) for p in parts)
