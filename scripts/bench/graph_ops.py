"""Benchmark: the in-graph resampling ops in onnxruntime, as exported, against other formulations of them.

`layers.upsample` (two 1-D conv passes) against one 5 x 5 conv per output phase followed by DepthToSpace;
`Degradation.degrade` with each frame's own taps (blocks of `physics.DEGRADE_BLOCK` output rows, one small
dense MatMul each) against other block sizes, against one dense matrix over the whole frame per axis, and
against the formulation it replaced (a conv gathering the taps' shifts as channels, then a MatMul). 206 bands,
at the LR sizes of the test scenes, of a 64 px tile and of a 160 px frame. Each formulation is checked equal
to the shipped one first, then all are timed interleaved on 1 and 2 threads (median of --repeats runs). Run it
on an idle machine.

Usage: .venv/bin/python scripts/bench/graph_ops.py [--repeats 30] [--out results/bench/graph-ops.json]
A benchmark, not a test: it prints a table and writes the JSON; it asserts only that the formulations agree.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path
from unittest import mock

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from tqdm import tqdm

from spectra_distill.models import physics
from spectra_distill.models.layers import _phase_taps, upsample
from spectra_distill.models.physics import Degradation

BANDS, SCALE, TAPS = 206, 4, 8
SIZES = (22, 40, 64, 160)


class Upsample(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample(x, SCALE)


class UpsampleDepthToSpace(torch.nn.Module):
    """A 5 x 5 stencil per output phase (outer product of the 1-D taps), then DepthToSpace."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        taps = _phase_taps(SCALE, "bicubic").float()
        grid = (taps[:, None, :, None] * taps[None, :, None, :]).reshape(SCALE * SCALE, 1, 5, 5)
        y = F.pad(x.reshape(n * c, 1, h, w), (2, 2, 2, 2), mode="replicate")
        return F.pixel_shuffle(F.conv2d(y, grid), SCALE).reshape(n, c, h * SCALE, w * SCALE)


class Degrade(torch.nn.Module):
    """The shipped formulation, a shifted blur's (N, 2, wide) taps as in the students' fuse graphs."""

    def __init__(self) -> None:
        super().__init__()
        self.physics = Degradation(BANDS, 4, SCALE, TAPS)

    def forward(self, x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
        return self.physics.degrade(x, taps)


class DegradeShiftConv(Degrade):
    """The replaced formulation: per axis, a conv gathers the k strided shifts as channels and a MatMul weighs
    them by each image's taps."""

    def forward(self, x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        k = self.physics.wide
        bank = torch.eye(k)
        x = self.physics._framed(x, wide=True)
        x = F.conv2d(x, bank.view(k, 1, k, 1), stride=(SCALE, 1))
        rows, width = x.shape[-2:]
        x = (taps[:, 0].reshape(n, 1, 1, k) @ x.reshape(n, c, k, rows * width)).reshape(n * c, 1, rows, width)
        x = F.conv2d(x, bank.view(k, 1, 1, k), stride=(1, SCALE))
        cols = x.shape[-1]
        return (taps[:, 1].reshape(n, 1, 1, k) @ x.reshape(n, c, k, rows * cols)).reshape(n, c, rows, cols)


def _dense(taps: torch.Tensor, size: int, pad: int) -> torch.Tensor:
    """(N, size / s, size): one axis's decimating blur over the whole frame, the reflect frame folded in."""
    k = taps.shape[-1]
    framed = torch.arange(size + 2 * pad)
    offsets = framed - SCALE * torch.arange((size + 2 * pad - k) // SCALE + 1)[:, None]
    weights = taps[:, offsets.clamp(0, k - 1)] * ((offsets >= 0) & (offsets < k))
    source = (framed - pad).abs()
    source = torch.where(source > size - 1, 2 * (size - 1) - source, source)
    return weights @ (source[:, None] == torch.arange(size)).float()


class DegradeDense(Degrade):
    """One dense matrix per axis over the whole frame: a MatMul on each side."""

    def forward(self, x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
        pad = (self.physics.wide - SCALE) // 2
        rows = _dense(taps[:, 0], x.shape[-2], pad)[:, None]
        cols = _dense(taps[:, 1], x.shape[-1], pad)[:, None]
        return rows @ x @ cols.transpose(-1, -2)


def _session(
    module: torch.nn.Module, args: tuple[torch.Tensor, ...], names: list[str], threads: int, block: int
) -> ort.InferenceSession:
    buf = io.BytesIO()
    axes = {names[0]: {2: "h", 3: "w"}}
    with mock.patch.object(physics, "DEGRADE_BLOCK", block):
        torch.onnx.export(
            module, args, buf, input_names=names, dynamic_axes=axes, opset_version=17, dynamo=False
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    return ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("results/bench/graph-ops.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    wide = physics.wide_taps(TAPS, SCALE)
    taps = torch.softmax(torch.rand(1, 2, wide, generator=torch.Generator().manual_seed(0)), dim=2)
    shipped = physics.DEGRADE_BLOCK
    # op -> (grid, {formulation: (module, DEGRADE_BLOCK at export)}); the first formulation is the shipped one
    ops = {
        "upsample x4": (
            "LR",
            {"shipped": (Upsample(), shipped), "depth-to-space": (UpsampleDepthToSpace(), shipped)},
        ),
        "degrade, per-image taps": (
            "HR",
            {
                f"shipped (blocks of {shipped})": (Degrade(), shipped),
                **{f"blocks of {b}": (Degrade(), b) for b in (8, 16, 32) if b != shipped},
                "dense whole frame": (DegradeDense(), shipped),
                "shift-gathering conv": (DegradeShiftConv(), shipped),
            },
        ),
    }
    cases = [(op, size, threads) for op in ops for size in SIZES for threads in (1, 2)]
    rows = []
    for op, size, threads in tqdm(cases, desc="graph ops", unit="case"):
        grid, forms = ops[op]
        side = size if grid == "LR" else size * SCALE
        x = torch.from_numpy(rng.random((1, BANDS, side, side), dtype=np.float32))
        inputs = (x,) if grid == "LR" else (x, taps)
        names = ["x", "taps"][: len(inputs)]
        export_x = torch.rand(1, BANDS, 24, 24) if grid == "LR" else torch.rand(1, BANDS, 96, 96)
        export_inputs = (export_x,) + inputs[1:]
        sessions = {k: _session(m, export_inputs, names, threads, b) for k, (m, b) in forms.items()}
        feeds = {k: v.numpy() for k, v in zip(names, inputs, strict=True)}
        outs = {k: s.run(None, feeds)[0] for k, s in sessions.items()}
        first = next(iter(outs.values()))
        for k, out in outs.items():
            if out.shape != first.shape or not np.allclose(out, first, atol=1e-5):
                raise SystemExit(f"{op} at {side} px: {k} disagrees with the shipped formulation")
        times: dict[str, list[float]] = {k: [] for k in sessions}
        for _ in range(args.repeats):
            for k, s in sessions.items():
                t = time.perf_counter()
                s.run(None, feeds)
                times[k].append(time.perf_counter() - t)
        row = {"op": op, "input_px": side, "bands": BANDS, "threads": threads}
        rows.append(row | {"ms": {k: float(np.median(v) * 1e3) for k, v in times.items()}})
    for r in rows:
        cells = "  ".join(f"{k} {v:.2f}" for k, v in r["ms"].items())
        print(f"{r['op']:24s} {r['input_px']:>4d} px {r['threads']} thr  ms: {cells}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"repeats": args.repeats, "onnxruntime": ort.__version__, "degrade_block": shipped}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
