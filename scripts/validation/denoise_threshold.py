"""Validation evidence for `AUTO_DENOISE_SNR_DB` (results/distill/calibration/denoise-auto/).

The shipped students (PyTorch) on the validation regions of their trained scenes, clean and with noise:
the SNR the LR-HSI reads (`models.subspace.signal_subspace(...).snr_db`, the SDK's `autoSubspace`), and
the PSNR of the output as fused and projected onto the LR-HSI's signal subspace; from those, the mean PSNR
`--denoise auto` gives at each candidate threshold (projected where the SNR reads below it). No test scene
is read.

    .venv/bin/python scripts/validation/denoise_threshold.py models/student-cave31-rgb-x4.weights.pt \
        models/student-rs206-s2x4-x4.weights.pt
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from regions import ValidationRegions  # beside this script
from report import validation_main

from spectra_distill.evaluate import generalisation
from spectra_distill.evaluate.methods import subspace_method, torch_method
from spectra_distill.models.subspace import AUTO_DENOISE_SNR_DB, signal_subspace

CASES = (
    "nominal",
    "noise 40 dB",
    "noise 30 dB",
    "noise 30 dB, LR-HSI only",
    "noise 30 dB, HR-MSI only",
)
THRESHOLDS = (35.0, 40.0, 45.0, 50.0, float("inf"))


def rows_for(weights: str, root: Path) -> list[dict]:
    val = ValidationRegions.load(weights, root)
    net = torch_method("student", val.model.eval(), "cpu")
    projected = subspace_method(net, val.facts)
    valid = np.asarray(val.facts.band_valid, dtype=bool)
    out = []
    for case, r, pair in val.pairs(generalisation.cases_named(CASES)):
        out.append(
            {
                "model": val.name,
                "case": case.name,
                "snr": signal_subspace(pair.lrhsi.data, valid).snr_db,
                "as fused": val.psnr(r, net.predict(pair).cube),
                "projected": val.psnr(r, projected.predict(pair).cube),
            }
        )
    return out


def table(rows: list[dict]) -> list[str]:
    label = {t: "always" if t == float("inf") else f"below {t:g} dB" for t in THRESHOLDS}
    head = " | ".join(f"{label[t]}{' (shipped)' if t == AUTO_DENOISE_SNR_DB else ''}" for t in THRESHOLDS)
    lines = [
        f"| model | case | regions | SNR read (min-max) | never | {head} |",
        "|---|---|---|---|---|" + "---|" * len(THRESHOLDS),
    ]
    for model in dict.fromkeys(r["model"] for r in rows):
        for case in dict.fromkeys(r["case"] for r in rows if r["model"] == model):
            mine = [r for r in rows if r["model"] == model and r["case"] == case]
            snr = [r["snr"] for r in mine]
            never = np.mean([r["as fused"] for r in mine])
            cells = []
            for t in THRESHOLDS:
                chosen = [r["projected"] if r["snr"] < t else r["as fused"] for r in mine]
                cell = f"{np.mean(chosen):.2f} ({np.mean(chosen) - never:+.2f})"
                cells.append(f"**{cell}**" if t == AUTO_DENOISE_SNR_DB else cell)
            lines.append(
                f"| {model} | {case} | {len(mine)} | {min(snr):.1f}-{max(snr):.1f} | {never:.2f} | "
                + " | ".join(cells)
                + " |"
            )
    return lines


def main() -> None:
    validation_main(
        __doc__,
        "denoise_threshold.py",
        "results/distill/calibration/denoise-auto/validation.md",
        rows_for,
        table,
        "Mean PSNR (dB) over the validation regions of each student's trained scenes: the output as fused "
        "(never projected), and as `--denoise auto` leaves it at each threshold (projected onto the LR-HSI's "
        "signal subspace where the LR-HSI's SNR reads below it; `always` is `--denoise subspace`); in "
        "brackets "
        "the change from never projecting. Noise: AWGN at that SNR on both inputs unless one is named.",
    )


if __name__ == "__main__":
    main()
