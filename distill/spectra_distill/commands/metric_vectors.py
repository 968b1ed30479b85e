"""Write metric test vectors (inputs + expected PSNR/SAM/ERGAS/RMSE/SSIM) as JSON for the TypeScript SDK."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from spectra_distill.data.atomic import atomic_path
from spectra_distill.metrics.vectors import build_vectors

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("test/fixtures/metric-vectors.json"), help="JSON file to write"
    )
    parser.add_argument("--seed", type=int, default=20261127, help="seed of the random inputs")


def run(args: argparse.Namespace) -> int:
    doc = build_vectors(args.seed)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(doc, allow_nan=False) + "\n")
    logger.info("wrote %d cases to %s", len(doc["cases"]), args.out)
    return 0
