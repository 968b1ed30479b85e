"""Validation evidence for the per-frame blur shift, `shift_estimate` (calibration/shift-estimate/).

The shipped students (PyTorch, as `spectra fuse` runs them: `--denoise auto`) on the validation regions of
their trained scenes, each simulated as the card describes it and as users outside the project often make a
pair: the HR cube blurred by a Gaussian centred on every HR pixel and sampled at `[k::s]` (the LR pixels then
sit k - (s - 1)/2 HR px off the middle of each block). The students without the shift, with the searched
shift alone, and with the searched shift refined by least squares at several ridges
(`physics.SHIFT_REFINE_RIDGE`), with negative taps cut and over a wider window; also pairs whose LR-HSI an
image library resized (antialiased bicubic, area). No test scene is read.

    .venv/bin/python scripts/validation/shift_estimate.py models/student-cave31-rgb-x4.weights.pt \
        models/student-rs206-s2x4-x4.weights.pt
"""

from __future__ import annotations

from pathlib import Path

from regions import ValidationRegions  # beside this script
from report import comparison_table, validation_main

import spectra_distill.models.physics as physics
from spectra_distill.evaluate import generalisation
from spectra_distill.evaluate.methods import subspace_method, torch_method

SHIPPED = {
    "SHIFT_REFINE_RIDGE": physics.SHIFT_REFINE_RIDGE,
    "SHIFT_SIGNED": physics.SHIFT_SIGNED,
    "SHIFT_WINDOW_SCALES": physics.SHIFT_WINDOW_SCALES,
}
# each variant: the physics constants it changes from the shipped ones
VARIANTS = {
    "searched shift": {"SHIFT_REFINE_RIDGE": None},
    "refined, ridge 0.1": {"SHIFT_REFINE_RIDGE": 1e-1},
    "refined, ridge 0.01": {},
    "refined, ridge 0.001": {"SHIFT_REFINE_RIDGE": 1e-3},
    "ridge 0.01, taps >= 0": {"SHIFT_SIGNED": False},
    "ridge 0.01, window k + 2s": {"SHIFT_WINDOW_SCALES": 2},
}
CASES = generalisation.cases_named(
    (
        "nominal",
        "noise 30 dB",
        "PSF sigma +0.5 px",
        "PSF truncated (s taps)",
        "LR sampled at [::s]",
        "LR sampled at [s/4::s]",
        "LR sampled at [s/2::s]",
        "LR resized (bicubic, antialiased)",
        "LR resized (area)",
    )
)


def configure(changes: dict) -> None:
    for name, value in {**SHIPPED, **changes}.items():
        setattr(physics, name, value)


def rows_for(weights: str, root: Path) -> list[dict]:
    val = ValidationRegions.load(weights, root)
    plain = subspace_method(
        torch_method("no shift", val.model.with_physics(shift_estimate=False).eval(), "cpu"),
        val.facts,
        auto=True,
    )
    shifted = {}
    for name, changes in VARIANTS.items():
        configure(changes)  # the window is fixed when the network is built
        net = val.model.with_physics(shift_estimate=True).eval()
        shifted[name] = subspace_method(torch_method(name, net, "cpu"), val.facts, auto=True)
    configure({})
    out = []
    for case, r, pair in val.pairs(CASES):
        row = {"model": val.name, "case": case.name, "region": r.key}
        row["plain"] = val.psnr(r, plain.predict(pair).cube)
        for name, changes in VARIANTS.items():
            configure(changes)
            row[name] = val.psnr(r, shifted[name].predict(pair).cube)
        configure({})
        out.append(row)
    return out


def table(rows: list[dict]) -> list[str]:
    columns = [(name, name, not changes) for name, changes in VARIANTS.items()]
    return comparison_table(rows, "plain", "no shift", columns)


def main() -> None:
    validation_main(
        __doc__,
        "shift_estimate.py",
        "results/distill/calibration/shift-estimate/validation.md",
        rows_for,
        table,
        "Mean PSNR (dB) over the validation regions of each student's trained scenes, as `spectra fuse` runs "
        "it (`--denoise auto`), without the per-frame blur shift and with it (`shift_estimate`: the searched "
        "shift alone; refined by least squares at each ridge, `physics.SHIFT_REFINE_RIDGE`; with the refit's "
        "negative taps cut, `SHIFT_SIGNED`; over a wider window, `SHIFT_WINDOW_SCALES`); in brackets the change "
        "from no shift, mean and worst region. `LR sampled at [k::s]`: the HR cube blurred by the card's "
        "Gaussian centred on every HR pixel (untruncated) and sampled there, `gaussian_filter(hr)[..., k::s, "
        "k::s]`. `LR resized`: `torch.nn.functional.interpolate` by 1/s, antialiased bicubic or area.",
    )


if __name__ == "__main__":
    main()
