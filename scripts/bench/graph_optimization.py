"""Benchmark: onnxruntime's graph optimisation level for the shipped students' fuse graphs on the CPU.

Level 'all' adds the NCHWc layout transformation on top of 'extended': convolutions run in a blocked layout
and reorder nodes convert at the boundaries. Each shipped variant (fp32, fp16, int8) of both students is timed
at both levels, interleaved, one thread, on random inputs at 32 and 64 LR px (the test scenes are 22-40 px,
SDK tiles up to 64), with the frame statistics its statistics graph measures on them (median of --repeats
runs). Run it on an idle machine.

Usage: .venv/bin/python scripts/bench/graph_optimization.py [--repeats 15]
A benchmark, not a test: it prints a table and writes results/bench/graph-optimization.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

STUDENTS = ("student-cave31-rgb-x4", "student-rs206-s2x4-x4")
VARIANTS = ("", ".fp16", ".int8")
LEVELS = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
}
SIDES = (32, 64)


def session(path: Path, level: ort.GraphOptimizationLevel) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = level
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, default=Path("models"))
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--out", type=Path, default=Path("results/bench/graph-optimization.json"))
    args = p.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    jobs = [(s, v, side) for s in STUDENTS for v in VARIANTS for side in SIDES]
    for stem, variant, side in tqdm(jobs, desc="graph optimisation", unit="case"):
        card = json.loads((args.models / f"{stem}.card.json").read_text())
        bands, msi, scale = card["hsi"]["bands"], card["msi"]["bands"], card["scale"]
        lr = rng.random((1, bands, side, side), dtype=np.float32)
        hr = rng.random((1, msi, side * scale, side * scale), dtype=np.float32)
        (frame,) = session(args.models / f"{stem}.stats.onnx", LEVELS["all"]).run(
            None, {"lrhsi": lr, "hrmsi": hr}
        )
        feeds = {"lrhsi": lr, "hrmsi": hr, "frame_stats": frame}
        sessions = {
            name: session(args.models / f"{stem}{variant}.onnx", level) for name, level in LEVELS.items()
        }
        times: dict[str, list[float]] = {name: [] for name in sessions}
        for _ in range(args.repeats):
            for name, s in sessions.items():
                t0 = time.perf_counter()
                s.run(None, feeds)
                times[name].append(time.perf_counter() - t0)
        row = {"model": stem + variant, "lr_px": side}
        row.update({f"{name}_ms": 1e3 * float(np.median(t)) for name, t in times.items()})
        rows.append(row)
    print("| model | LR px | level 'all' (ms) | level 'extended' (ms) | extended / all |")
    print("|---|---|---|---|---|")
    for r in rows:
        ratio = r["extended_ms"] / r["all_ms"]
        print(f"| {r['model']} | {r['lr_px']} | {r['all_ms']:.1f} | {r['extended_ms']:.1f} | {ratio:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"repeats": args.repeats, "threads": 1, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
