"""Benchmark: what an in-graph physics option costs a shipped student in onnxruntime.

`--option srf_estimate` (the per-frame SRF fit) or `shift_estimate` (the per-frame blur shift). Each student's
weights are exported twice to a scratch folder, as shipped with the option off and on, and both graph pairs
(statistics + fuse) are timed interleaved on one thread on random inputs of the test scenes' size (median of
--repeats runs). Run it on an idle machine.

Usage: .venv/bin/python scripts/bench/physics_option_cost.py --option shift_estimate [--repeats 30]
A benchmark, not a test: it prints a table and writes results/bench/<option>-cost.json (srf-fit-cost.json for
srf_estimate).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from spectra_distill.export.model import load_checkpoint_model
from spectra_distill.export.onnx import export_onnx, session_options, stats_path_for

OPTIONS = {"srf_estimate": "srf-fit-cost.json", "shift_estimate": "shift-estimate-cost.json"}
"""The options and their results files."""
SHIPPED = {"srf_estimate": True}
"""The shipped students' other options, held while one is timed off and on."""
STUDENTS = {"models/student-cave31-rgb-x4.weights.pt": 64, "models/student-rs206-s2x4-x4.weights.pt": 40}
"""Weights and the LR side timed (the test scenes' LR-HSI are 22-64 px)."""


def session(path: Path) -> ort.InferenceSession:
    options = session_options()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--option", choices=tuple(OPTIONS), required=True)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--out", type=Path, help="results file (default: results/bench/ and the option's name)")
    args = p.parse_args()
    out = args.out or Path("results/bench") / OPTIONS[args.option]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for weights, side in STUDENTS.items():
            model, _ = load_checkpoint_model(weights, "student")
            graphs = {}
            for fit in (False, True):
                variant = model.with_physics(**{**SHIPPED, args.option: fit}).eval()
                path = export_onnx(variant, Path(tmp) / f"{fit}.onnx")
                graphs[fit] = (session(stats_path_for(path)), session(path))
            c = model.config
            rng = np.random.default_rng(0)
            lr = rng.random((1, c.hsi_bands, side, side), dtype=np.float32)
            hr = rng.random((1, c.msi_bands, side * c.scale, side * c.scale), dtype=np.float32)
            times = {fit: ([], []) for fit in graphs}
            for _ in tqdm(range(args.repeats), desc=Path(weights).name.split(".")[0], unit="round"):
                for fit, (stats, fuse) in graphs.items():
                    t0 = time.perf_counter()
                    (vector,) = stats.run(None, {"lrhsi": lr, "hrmsi": hr})
                    t1 = time.perf_counter()
                    fuse.run(None, {"lrhsi": lr, "hrmsi": hr, "frame_stats": vector})
                    times[fit][0].append(t1 - t0)
                    times[fit][1].append(time.perf_counter() - t1)
            for fit, (stats_s, fuse_s) in times.items():
                rows.append({
                    "model": Path(weights).name.split(".")[0], args.option: fit,
                    "lr_px": side, "stats_ms": 1e3 * float(np.median(stats_s)),
                    "fuse_ms": 1e3 * float(np.median(fuse_s)),
                })  # fmt: skip
    print(f"| model | {args.option} | LR px | statistics graph (ms) | fuse graph (ms) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r[args.option]} | {r['lr_px']} | {r['stats_ms']:.1f} | {r['fuse_ms']:.1f} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"option": args.option, "shipped": SHIPPED, "repeats": args.repeats, "threads": 1, "rows": rows}
    out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
