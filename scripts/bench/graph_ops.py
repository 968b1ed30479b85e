"""Benchmark: the in-graph resampling ops in onnxruntime, as exported, against the formulations they replaced.

`layers.upsample` (two 1-D conv passes) against one 5 x 5 conv per output phase followed by DepthToSpace,
and `Degradation.degrade` with per-image taps (a shift-gathering conv and a MatMul per axis) against a
weighted sum of strided slices, on 206 bands at the LR sizes of the test scenes and of a 64 px tile. Each
pair is checked equal first, then timed interleaved on 1 and 2 threads (median of --repeats runs). Run it on
an idle machine.

Usage: .venv/bin/python scripts/bench/graph_ops.py [--repeats 30] [--out results/bench/graph-ops.json]
A benchmark, not a test: it prints a table and writes the JSON; it asserts only that each pair agrees.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from tqdm import tqdm

from spectra_distill.models.layers import _phase_taps, upsample
from spectra_distill.models.physics import Degradation

BANDS, SCALE, TAPS = 206, 4, 8
SIZES = (22, 40, 64)


class Upsample(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample(x, SCALE)


class UpsampleDepthToSpace(torch.nn.Module):
    """The replaced formulation: a 5 x 5 stencil per output phase (outer product of the 1-D taps)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        taps = _phase_taps(SCALE, "bicubic").float()
        grid = (taps[:, None, :, None] * taps[None, :, None, :]).reshape(SCALE * SCALE, 1, 5, 5)
        y = F.pad(x.reshape(n * c, 1, h, w), (2, 2, 2, 2), mode="replicate")
        return F.pixel_shuffle(F.conv2d(y, grid), SCALE).reshape(n, c, h * SCALE, w * SCALE)


class Degrade(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.physics = Degradation(BANDS, 4, SCALE, TAPS)

    def forward(self, x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
        return self.physics.degrade(x, taps)


class DegradeSlices(Degrade):
    """The replaced formulation: per axis, the sum of the k strided slices weighted by each image's taps."""

    def forward(self, x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        framed = self.physics._framed(x)
        x = framed.reshape(n, c, framed.shape[-2], framed.shape[-1])
        weights = taps[:, :, None, None, None]
        rows = (x.shape[-2] - TAPS) // SCALE + 1
        x = sum(weights[:, i] * x[:, :, i : i + SCALE * (rows - 1) + 1 : SCALE] for i in range(TAPS))
        cols = (x.shape[-1] - TAPS) // SCALE + 1
        return sum(weights[:, i] * x[..., i : i + SCALE * (cols - 1) + 1 : SCALE] for i in range(TAPS))


def _session(
    module: torch.nn.Module, args: tuple[torch.Tensor, ...], names: list[str], threads: int
) -> ort.InferenceSession:
    buf = io.BytesIO()
    axes = {names[0]: {2: "h", 3: "w"}}
    torch.onnx.export(module, args, buf, input_names=names, dynamic_axes=axes, opset_version=17, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("results/bench/graph-ops.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    taps = torch.softmax(torch.rand(1, TAPS, generator=torch.Generator().manual_seed(0)), dim=1)
    pairs = {
        "upsample x4": (Upsample(), UpsampleDepthToSpace(), "LR"),
        "degrade, per-image taps": (Degrade(), DegradeSlices(), "HR"),
    }
    cases = [(op, size, threads) for op in pairs for size in SIZES for threads in (1, 2)]
    rows = []
    for op, size, threads in tqdm(cases, desc="graph ops", unit="case"):
        new, old, grid = pairs[op]
        side = size if grid == "LR" else size * SCALE
        x = torch.from_numpy(rng.random((1, BANDS, side, side), dtype=np.float32))
        inputs = (x,) if grid == "LR" else (x, taps)
        names = ["x", "taps"][: len(inputs)]
        sessions = {k: _session(m, inputs, names, threads) for k, m in (("now", new), ("before", old))}
        feeds = {k: v.numpy() for k, v in zip(names, inputs, strict=True)}
        outs = {k: s.run(None, feeds)[0] for k, s in sessions.items()}
        if not np.allclose(outs["now"], outs["before"], atol=1e-5):
            raise SystemExit(f"{op} at {side} px: the two formulations disagree")
        times: dict[str, list[float]] = {k: [] for k in sessions}
        for _ in range(args.repeats):
            for k, s in sessions.items():
                t = time.perf_counter()
                s.run(None, feeds)
                times[k].append(time.perf_counter() - t)
        row = {"op": op, "input_px": side, "bands": BANDS, "threads": threads}
        rows.append(row | {f"{k}_ms": float(np.median(v) * 1e3) for k, v in times.items()})
    print(f"{'op':26s} {'input':>7s} {'threads':>7s} {'before ms':>10s} {'now ms':>8s} {'speed-up':>9s}")
    for r in rows:
        ratio = r["before_ms"] / r["now_ms"]
        cells = f"{r['input_px']:>7d} {r['threads']:>7d} {r['before_ms']:>10.2f} {r['now_ms']:>8.2f}"
        print(f"{r['op']:26s} {cells} {ratio:>8.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"repeats": args.repeats, "onnxruntime": ort.__version__}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
