"""GPU timing for results/gpu.md: teacher and student (paper preset) in PyTorch fp32, bf16 and
torch.compile, and an exported student in onnxruntime, at 512x512 and 1024x1024 HR (x4, 172 bands, 4-band MSI).

Run on a CUDA machine: python scripts/gpu/time_models.py --out gpu-results.md [--onnx student.onnx]
"""

from __future__ import annotations

import argparse
import time

import torch

from spectra_distill.models import create_model


def bench(fn, iters: int) -> float:
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--onnx", default=None)
    ap.add_argument("--bands", type=int, default=172)
    ap.add_argument("--msi-bands", type=int, default=4)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--budget-s", type=float, default=90.0)
    args = ap.parse_args()
    start = time.perf_counter()
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    name = torch.cuda.get_device_name(0)
    rows = []
    for size in (512, 1024):
        lr = torch.rand(1, args.bands, size // 4, size // 4, device="cuda")
        msi = torch.rand(1, args.msi_bands, size, size, device="cuda")
        for role in ("teacher", "student"):
            model = create_model(role, "paper", args.bands, args.msi_bands, 4).cuda().eval()
            with torch.no_grad():
                fp32 = bench(lambda m=model: m(lr, msi), args.iters)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    bf16 = bench(lambda m=model: m(lr, msi), args.iters)
                compiled = "skipped (time budget)"
                if time.perf_counter() - start < args.budget_s * 0.6:
                    cm = torch.compile(model)
                    with torch.autocast("cuda", dtype=torch.bfloat16):
                        compiled = f"{bench(lambda m=cm: m(lr, msi), args.iters):.1f}"
            mem = torch.cuda.max_memory_allocated() / 2**20
            rows.append((size, role, f"{fp32:.1f}", f"{bf16:.1f}", compiled, f"{mem:.0f}"))
            print(rows[-1], flush=True)
            torch.cuda.reset_peak_memory_stats()
            del model
    ort_lines = []
    if args.onnx:
        import numpy as np
        import onnxruntime as ort

        providers = ort.get_available_providers()
        ort_lines.append(f"onnxruntime {ort.__version__}, available providers: {', '.join(providers)}")
        sess = ort.InferenceSession(args.onnx, providers=[p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in providers])
        shape = {i.name: i.shape for i in sess.get_inputs()}
        b = shape["lrhsi"][1]
        m = shape["hrmsi"][1]
        for size in (512, 1024):
            feeds = {
                "lrhsi": np.random.rand(1, b, size // 4, size // 4).astype(np.float32),
                "hrmsi": np.random.rand(1, m, size, size).astype(np.float32),
            }
            sess.run(None, feeds)
            t0 = time.perf_counter()
            for _ in range(args.iters):
                sess.run(None, feeds)
            ms = (time.perf_counter() - t0) / args.iters * 1e3
            ort_lines.append(f"| {size} | {args.onnx.split('/')[-1]} ({b} bands) | {sess.get_providers()[0]} | {ms:.1f} |")
    with open(args.out, "w") as f:
        f.write(f"# GPU timing on {name}\n\n")
        f.write(f"torch {torch.__version__}; paper preset, B={args.bands}, b={args.msi_bands}, x4, batch 1, "
                f"mean of {args.iters} forwards after 2 warm-ups, CUDA-synchronised, no grad.\n\n")
        f.write("| HR size | model | fp32 ms (TF32) | bf16 autocast ms | torch.compile + bf16 ms | peak MiB |\n")
        f.write("|---|---|---|---|---|---|\n")
        for r in rows:
            f.write("| " + " | ".join(map(str, r)) + " |\n")
        if ort_lines:
            f.write(f"\n{ort_lines[0]}\n\n| HR size | model | provider | ms |\n|---|---|---|---|\n")
            f.write("\n".join(ort_lines[1:]) + "\n")


if __name__ == "__main__":
    main()
