"""Subcommands of `spectra-distill`, one module each; the options several of them share."""

from __future__ import annotations

import argparse
from pathlib import Path

from spectra_distill.models.factory import ROLES


def add_network_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """`--checkpoint` (training checkpoint or shipped weights) and `--role`; `what` ends the role's help."""
    parser.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="training checkpoint, or the <model>.weights.pt that export writes beside a model",
    )
    parser.add_argument("--role", choices=ROLES, default="student", help=f"network to {what}")
