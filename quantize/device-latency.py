"""Re-times the models `npm run bench:quantize` kept in out/quantize-bench/<model>/ on a quiet machine.

Same onnxruntime version as onnxruntime-node (1.30), through Python; CPU provider, interleaved rounds.
Usage: python quantize/device-latency.py out/quantize-bench [--threads 1 4] [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    report: dict[str, object] = {
        "onnxruntime": ort.__version__,
        "runs": args.runs,
        "models": {},
    }
    for folder in sorted(p for p in args.root.iterdir() if p.is_dir()):
        feeds = {
            "lrhsi": np.load(folder / "latency.lrhsi.npy")[None],
            "hrmsi": np.load(folder / "latency.hrmsi.npy")[None],
        }
        result: dict[str, dict[str, float]] = {}
        for threads in args.threads:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            sessions = {
                m.stem: ort.InferenceSession(
                    str(m), opts, providers=["CPUExecutionProvider"]
                )
                for m in sorted(folder.glob("*.onnx"))
            }
            times: dict[str, list[float]] = {k: [] for k in sessions}
            for s in sessions.values():
                for _ in range(3):
                    s.run(None, feeds)
            for _ in range(args.runs):
                for k, s in sessions.items():
                    t0 = time.perf_counter()
                    s.run(None, feeds)
                    times[k].append((time.perf_counter() - t0) * 1000)
            for k, t in times.items():
                result.setdefault(k, {})[f"median_ms_{threads}t"] = round(
                    float(np.median(t)), 3
                )
        report["models"][folder.name] = result  # type: ignore[index]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
