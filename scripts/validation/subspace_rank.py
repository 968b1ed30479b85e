"""Validation evidence for the signal subspace's rank rule (results/distill/calibration/subspace-rank/).

The shipped ONNX students on the validation regions of their trained scenes with 30 dB noise on both
inputs, their output projected onto the LR-HSI's signal subspace with HySime's rank rule alone (a direction
is kept where its signal variance exceeds the noise variance along it), the Marchenko-Pastur edge alone
(where its sample eigenvalue exceeds what noise alone spreads to), and both, as `models.subspace` does; the
best rank in hindsight and CNMF for scale. No test scene is read.

    .venv/bin/python scripts/validation/subspace_rank.py \
        models/student-rs206-s2x4-x4.weights.pt=models/student-rs206-s2x4-x4.onnx \
        models/student-cave31-rgb-x4.weights.pt=models/student-cave31-rgb-x4.onnx
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from report import write_report  # beside this script
from tqdm import tqdm

from spectra_distill.data import default_data_root
from spectra_distill.data.splits import load_split
from spectra_distill.evaluate.generalisation import CameraCase, baselines, simulate
from spectra_distill.evaluate.methods import onnx_method
from spectra_distill.evaluate.regions import ModelFacts, held_out_regions
from spectra_distill.evaluate.run import too_small, wald_config
from spectra_distill.export.model import load_checkpoint_model
from spectra_distill.metrics import evaluate as score
from spectra_distill.models.subspace import noise_spread, project, signal_directions, signal_subspace

CASE = CameraCase("noise 30 dB", snr_db=30.0)
RANKS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


def rows_for(weights: str, onnx: str, root: Path) -> list[dict]:
    _, ckpt = load_checkpoint_model(weights, "student")
    facts = ModelFacts.from_card(ckpt["card"], weights)
    spec = load_split(facts.split)
    regions = [
        r for r in held_out_regions(facts, root, spec, spec, "val")[0] if too_small(r, facts.scale) is None
    ]
    student = onnx_method(Path(onnx), facts, "cpu")
    (cnmf,) = baselines(("cnmf",))
    valid = np.asarray(facts.band_valid, dtype=bool)
    out = []
    for r in tqdm(regions, desc=Path(onnx).stem, unit="region"):
        pair = simulate(r.cube, facts, wald_config(facts, root, 0), CASE, 0)

        def psnr(cube: np.ndarray, r=r) -> float:
            return score(cube, r.cube.data, facts.scale, r.cube.valid, r.band_mask).psnr

        v = valid if pair.lrhsi.band_mask is None else valid & pair.lrhsi.band_mask
        sub = signal_subspace(pair.lrhsi.data, v)
        fused = student.predict(pair).cube
        # every direction, to score each rule's rank (and any other) on the same directions
        x = pair.lrhsi.data[sub.bands].reshape(sub.bands.size, -1).astype(np.float64)
        values, vectors, noise_along = signal_directions(x, sub.noise_variance)
        plain = max(1, int((values > noise_along).sum()))
        edge = max(1, int((values > noise_spread(*x.shape) * noise_along).sum()))

        def projected(k: int, sub=sub, vectors=vectors, fused=fused) -> float:
            return psnr(project(fused, replace(sub, basis=vectors[:, :k])))

        hindsight = {k: projected(k) for k in sorted({*RANKS, plain, edge, sub.rank}) if k <= sub.bands.size}
        best = max(hindsight, key=hindsight.__getitem__)
        out.append({
            "model": Path(onnx).stem, "region": r.key, "lr_px": x.shape[1], "bands": int(sub.bands.size),
            "rank_plain": plain, "rank_edge": edge, "rank": sub.rank, "rank_best": best,
            "none": psnr(fused), "plain": hindsight[plain], "edge": hindsight[edge],
            "both": hindsight[sub.rank], "best": hindsight[best], "cnmf": psnr(cnmf.predict(pair).cube),
        })  # fmt: skip
    return out


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| model | region | LR px | bands | rank: HySime / edge / both / best | no projection | HySime rule "
        "| edge rule | both (shipped) | best rank | CNMF |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        for r in mine:
            lines.append(
                f"| {model} | {r['region']} | {r['lr_px']} | {r['bands']} | "
                f"{r['rank_plain']} / {r['rank_edge']} / {r['rank']} / {r['rank_best']} | "
                f"{r['none']:.2f} | {r['plain']:.2f} | {r['edge']:.2f} "
                f"| **{r['both']:.2f}** | {r['best']:.2f} | {r['cnmf']:.2f} |"
            )
        means = {k: np.mean([r[k] for r in mine]) for k in ("none", "plain", "edge", "both", "best", "cnmf")}
        lines.append(
            f"| {model} | **mean** | | | | {means['none']:.2f} | {means['plain']:.2f} | {means['edge']:.2f} "
            f"| **{means['both']:.2f}** | {means['best']:.2f} | {means['cnmf']:.2f} |"
        )
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="WEIGHTS=ONNX pairs")
    p.add_argument(
        "--out", type=Path, default=Path("results/distill/calibration/subspace-rank/validation.md")
    )
    args = p.parse_args()
    root = default_data_root().resolve()
    rows = []
    for spec in args.models:
        weights, onnx = spec.split("=", 1)
        rows += rows_for(weights, onnx, root)
    write_report(
        args.out,
        f".venv/bin/python scripts/validation/subspace_rank.py {' '.join(args.models)}",
        "PSNR (dB) of the ONNX student's output on validation regions with 30 dB noise on both inputs, "
        "projected onto the LR-HSI's signal subspace of each rank rule; 'best rank' is the best of ranks "
        f"{', '.join(map(str, RANKS))} and the rules' in hindsight (not a rule).",
        table(rows),
    )


if __name__ == "__main__":
    main()
