"""Train a CSAKD teacher/student pair (co-training, offline distillation or teacher only).

Example: spectra-distill train --config distill/spectra_distill/options/cave31_rgb_x4.yaml
Multi-GPU: torchrun --nproc_per_node 4 -m spectra_distill train --config ... --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from spectra_distill.errors import ConfigError
from spectra_distill.log import output
from spectra_distill.train import load_config, run_training
from spectra_distill.train.config import add_override_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="experiment YAML/JSON (default with --resume: <run dir>/config.yaml)"
    )
    add_override_option(
        parser, "override a config value, e.g. optim.lr=2e-4 or kd.student_losses.1.weight=0.2"
    )
    parser.add_argument("--run-dir", type=Path, help="run directory (default runs/<name>)")
    parser.add_argument("--resume", action="store_true", help="continue from <run dir>/last.pt")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="override the config's device")
    parser.add_argument(
        "--max-minutes", type=float, help="stop cleanly with a checkpoint after this wall time"
    )


def run(args: argparse.Namespace) -> int:
    config_path = args.config
    if config_path is None:
        if not (args.resume and args.run_dir):
            raise ConfigError("--config is required unless --resume and --run-dir name an existing run")
        config_path = args.run_dir / "config.yaml"
    overrides = list(args.overrides)
    if args.device:
        overrides.append(f"device={args.device}")
    cfg = load_config(config_path, overrides)
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise ConfigError(f"--max-minutes must be > 0; got {args.max_minutes}")
    run_dir = args.run_dir or Path("runs") / cfg.name
    result = run_training(
        cfg, run_dir, resume=args.resume, max_minutes=args.max_minutes, command=args.invocation
    )
    summary = {
        "run_dir": str(run_dir),
        "step": result.step,
        "stopped_early": result.stopped_early,
        "best_psnr": result.best_psnr,
        "seconds": round(result.seconds, 1),
        "metrics": result.metrics,
    }
    if int(os.environ.get("RANK", "0")) == 0:
        output(json.dumps(summary, indent=2))
    return 0
