"""Export a trained teacher or student to ONNX plus its model card, verified against PyTorch."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from spectra_distill.export import export_model, load_checkpoint_model
from spectra_distill.export.onnx import DEFAULT_OPSET
from spectra_distill.models.factory import ROLES

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="training checkpoint (.pt)")
    parser.add_argument("--role", choices=ROLES, default="student", help="which network to export")
    parser.add_argument("--out", type=Path, required=True, help="ONNX path, e.g. models/student-x.onnx")
    parser.add_argument("--name", default=None, help="model id in the card (default: the file stem)")
    parser.add_argument("--preset", default=None, help="preset named in the card (default: from the config)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (>= 17)")


def _preset_of(config: dict[str, Any]) -> str:
    model = config.get("model")
    if isinstance(model, dict) and isinstance(model.get("preset"), str):
        return model["preset"]
    return str(config.get("preset", "custom"))


def _validation_of(metrics: Any) -> dict[str, Any] | None:
    if not isinstance(metrics, dict) or not metrics:
        return None
    return metrics if "per_dataset" in metrics else {"per_dataset": metrics}


def _metrics_of(ckpt: dict[str, Any], role: str) -> Any:
    # A co-training checkpoint keeps the student's scores under `metrics` and the teacher's under
    # `teacher_metrics`; a teacher-only run keeps the teacher's under `metrics`.
    if role == "teacher" and "student" in ckpt["model_config"]:
        return ckpt.get("teacher_metrics")
    return ckpt.get("metrics")


def run(args: argparse.Namespace) -> int:
    model, ckpt = load_checkpoint_model(args.checkpoint, args.role)
    config = ckpt.get("config") or {}
    training = {
        "checkpoint": args.checkpoint.name,
        "epochs": ckpt.get("epoch"),
        "steps": ckpt.get("step"),
        "command": " && ".join(ckpt.get("commands", [])) or None,
        "seconds": ckpt.get("seconds"),
    }
    result = export_model(
        model,
        ckpt["card"],
        args.out,
        role=args.role,
        preset=args.preset or _preset_of(config),
        name=args.name,
        opset=args.opset,
        training={k: v for k, v in training.items() if v is not None},
        validation=_validation_of(_metrics_of(ckpt, args.role)),
        source=args.checkpoint,
    )
    for check in result.parity:
        logger.info(
            "parity batch %d LR %dx%d: max abs diff %.2e",
            check.batch, check.lr_size[0], check.lr_size[1], check.max_abs_diff,
        )  # fmt: skip
    params = f"{result.card['params']:,}"
    logger.info("wrote %s and %s (%s params)", result.onnx_path, result.card_path, params)
    return 0
