"""Export a trained teacher or student to ONNX plus its model card, verified against PyTorch."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from spectra_distill.commands import add_network_arguments
from spectra_distill.export import export_model, load_checkpoint_model
from spectra_distill.export.model import provenance
from spectra_distill.export.onnx import DEFAULT_OPSET

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser, "export")
    parser.add_argument("--out", type=Path, required=True, help="ONNX path, e.g. models/student-x.onnx")
    parser.add_argument("--name", default=None, help="model id in the card (default: the file stem)")
    parser.add_argument("--preset", default=None, help="preset named in the card (default: from the config)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (>= 17)")
    parser.add_argument(
        "--srf-estimate",
        action="store_true",
        help="fit the SRF each frame shows in the statistics graph and use it in the spectral "
        "back-projection (FusionNetConfig.srf_estimate; holds no weights, so the learnt part is kept)",
    )
    parser.add_argument(
        "--shift-estimate",
        action="store_true",
        help="also try a shifted blur in the per-frame PSF search (an LR-HSI sampled off the middle of each "
        "block, or out of register by a fraction of an LR pixel) and use it in the prior and the "
        "back-projections (FusionNetConfig.shift_estimate; holds no weights)",
    )
    parser.add_argument(
        "--msi-denoise",
        action="store_true",
        help="measure each HR-MSI band's noise in the statistics graph and keep its finest detail levels at "
        "their Wiener gains before anything reads it (FusionNetConfig.msi_denoise; holds no weights)",
    )


# the physics options export can put under trained weights: flag and FusionNetConfig field
ADDED_PHYSICS = (
    ("--srf-estimate", "srf_estimate"),
    ("--shift-estimate", "shift_estimate"),
    ("--msi-denoise", "msi_denoise"),
)


def run(args: argparse.Namespace) -> int:
    model, ckpt = load_checkpoint_model(args.checkpoint, args.role)
    history = provenance(args.checkpoint, ckpt, args.role)
    training = history.training
    added = [(flag, option) for flag, option in ADDED_PHYSICS if getattr(args, option)]
    added = [(flag, option) for flag, option in added if not getattr(model.config, option)]
    for flag, option in added:
        try:
            model = model.with_physics(**{option: True}).eval()
        except ValueError as exc:
            raise SystemExit(f"{flag}: {exc}") from exc
        training = {**training, option: {"trained_with": False, "replaced_by": True}}
    if added:
        training["command"] = " && ".join(c for c in (training.get("command"), args.invocation) if c)
    result = export_model(
        model,
        ckpt["card"],
        args.out,
        role=args.role,
        preset=args.preset or history.preset,
        name=args.name,
        opset=args.opset,
        training=training,
        validation=history.validation,
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
