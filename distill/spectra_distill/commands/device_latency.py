"""Re-time the models `npm run bench:quantize` kept in out/quantize-bench/<model>/ (on a quiet machine).

Each model folder holds the variants as `<variant>.onnx` and one input pair, `latency.lrhsi.npy` and
`latency.hrmsi.npy` (float32 (bands, H, W)). Runs them with onnxruntime's CPU provider through Python (the
same version as onnxruntime-node), interleaving the variants round by round so load drifts hit all alike,
and writes the median milliseconds per thread count as JSON to stdout.

Example: spectra-distill device-latency out/quantize-bench [--threads 1 4] [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from spectra_distill.errors import ConfigError, DatasetError
from spectra_distill.log import output

logger = logging.getLogger(__name__)

WARMUP_RUNS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", type=Path, help="folder of model folders (e.g. out/quantize-bench)")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 4], help="intra-op thread counts to time (default: 1 4)"
    )
    parser.add_argument("--runs", type=int, default=50, help="timed runs per model and thread count")


def time_models(root: Path, threads: list[int], runs: int) -> dict[str, Any]:
    """Median latency per model folder under ``root``, variant and thread count.

    Returns:
        ``{"onnxruntime": version, "runs": runs, "models": {folder: {variant: {"median_ms_<n>t": ms}}}}``.

    Raises:
        DatasetError: ``root`` is not a folder, or a model folder lacks its latency inputs.
    """
    import onnxruntime as ort  # only this command needs it at import time

    from spectra_distill.export.onnx import STATS_NAME, StatisticsGraph, session_options, takes_statistics

    if not root.is_dir():
        raise DatasetError("expected a folder of model folders (npm run bench:quantize keeps them)", root)
    report: dict[str, Any] = {"onnxruntime": ort.__version__, "runs": runs, "models": {}}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        inputs = {name: folder / f"latency.{name}.npy" for name in ("lrhsi", "hrmsi")}
        missing = [p.name for p in inputs.values() if not p.is_file()]
        if missing:
            raise DatasetError(f"no {', '.join(missing)}; the bench keeps them beside the models", folder)
        feeds = {name: np.load(path)[None] for name, path in inputs.items()}
        result: dict[str, dict[str, float]] = {}
        for n in threads:
            opts = session_options()
            opts.intra_op_num_threads = n
            opts.inter_op_num_threads = 1
            # a statistics graph runs once per frame beside its model, not as a model of its own
            models = [m for m in sorted(folder.glob("*.onnx")) if not m.name.endswith(".stats.onnx")]
            sessions = {
                m.stem: ort.InferenceSession(str(m), opts, providers=["CPUExecutionProvider"]) for m in models
            }
            model_feeds = {
                m.stem: {**feeds, STATS_NAME: StatisticsGraph(m).measure(feeds["lrhsi"], feeds["hrmsi"])}
                if takes_statistics(sessions[m.stem])
                else feeds
                for m in models
            }
            times: dict[str, list[float]] = {k: [] for k in sessions}
            for k, s in sessions.items():
                for _ in range(WARMUP_RUNS):
                    s.run(None, model_feeds[k])
            for _ in range(runs):
                for k, s in sessions.items():
                    t0 = time.perf_counter()
                    s.run(None, model_feeds[k])
                    times[k].append((time.perf_counter() - t0) * 1000)
            for k, t in times.items():
                result.setdefault(k, {})[f"median_ms_{n}t"] = round(float(np.median(t)), 3)
            logger.info("%s, %d thread(s): %s", folder.name, n, ", ".join(sorted(sessions)))
        report["models"][folder.name] = result
    return report


def run(args: argparse.Namespace) -> int:
    if args.runs < 1 or any(n < 1 for n in args.threads):
        got = f"--runs {args.runs}, --threads {' '.join(map(str, args.threads))}"
        raise ConfigError(f"--runs and --threads must be >= 1; got {got}")
    output(json.dumps(time_models(args.root, args.threads, args.runs), indent=1))
    return 0
