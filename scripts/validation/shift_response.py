"""Validation evidence for judging the shifted blur with a fitted response, `physics.SHIFT_RESPONSE`
(results/distill/calibration/shift-response/).

The shipped students (PyTorch, as `spectra fuse` runs them: `--denoise auto`, the SRF fitted per frame) on the
validation regions of their trained scenes: without the blur shift, with the shift judged through the card's
SRF ("card"), and judged with each candidate's own fitted response ("fitted"). Cases: the card's camera in and
out of register, an SRF 8 nm off, 30 dB noise and, on the RGB grid, every other camera of
`srf/camspec_28cameras_srf.csv` in register and sampled at `[::s]`. No test scene is read.

    .venv/bin/python scripts/validation/shift_response.py models/student-cave31-rgb-x4.weights.pt \
        models/student-rs206-s2x4-x4.weights.pt
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from regions import ValidationRegions  # beside this script
from report import comparison_table, validation_main
from srf_fit import cameras  # beside this script

import spectra_distill.models.physics as physics
from spectra_distill.evaluate import generalisation
from spectra_distill.evaluate.generalisation import CAMERAS_FILE, CameraCase, rgb_camera
from spectra_distill.evaluate.methods import subspace_method, torch_method

SHIPPED = physics.SHIFT_RESPONSE
MODES = ("card", "fitted")
CASES = generalisation.cases_named(
    (
        "nominal",
        "noise 30 dB",
        "PSF sigma +0.5 px",
        "LR sampled at [::s]",
        "LR sampled at [s/4::s]",
        "LR sampled at [s/2::s]",
        "LR resized (bicubic, antialiased)",
        "LR resized (area)",
        "SRF +8 nm",
        "SRF -8 nm",
        "SRF +8 nm, LR at [::s]",
    )
)
OTHER_CAMERAS = "27 other RGB cameras"


def camera_cases(root: Path) -> list[CameraCase]:
    """Every other camera in register and sampled at `[::s]`."""
    out = []
    for name in cameras(root):
        case = rgb_camera(name)
        out += [
            case,
            dataclasses.replace(case, name=f"{case.name}, LR at [::s]", lr_phase=0.0),
        ]
    return out


def rows_for(weights: str, root: Path) -> list[dict]:
    val = ValidationRegions.load(weights, root)
    plain = subspace_method(
        torch_method(
            "no shift",
            val.model.with_physics(srf_estimate=True, shift_estimate=False).eval(),
            "cpu",
        ),
        val.facts,
        auto=True,
    )
    net = val.model.with_physics(srf_estimate=True, shift_estimate=True).eval()
    shifted = subspace_method(torch_method("shift", net, "cpu"), val.facts, auto=True)
    extra = camera_cases(root) if val.facts.msi_preset == "rgb" else []
    out = []
    for case, r, pair in val.pairs([*CASES, *extra]):
        row = {"model": val.name, "case": case.name, "region": r.key}
        row["plain"] = val.psnr(r, plain.predict(pair).cube)
        for mode in MODES:
            physics.SHIFT_RESPONSE = mode
            row[mode] = val.psnr(r, shifted.predict(pair).cube)
        physics.SHIFT_RESPONSE = SHIPPED
        out.append(row)
    return out


def pooled(rows: list[dict]) -> list[dict]:
    """The other cameras' rows pooled into two cases (in register, at `[::s]`): 27 rows each would bury the
    table; the worst region over all of them is kept."""
    out = []
    for r in rows:
        if r["case"].startswith("camera "):
            sampled = r["case"].endswith("LR at [::s]")
            r = {**r, "case": OTHER_CAMERAS + (", LR at [::s]" if sampled else "")}
        out.append(r)
    return out


def table(rows: list[dict]) -> list[str]:
    columns = [(f"judged through the {mode} response", mode, mode == SHIPPED) for mode in MODES]
    return comparison_table(pooled(rows), "plain", "no shift", columns)


def main() -> None:
    validation_main(
        __doc__,
        "shift_response.py",
        "results/distill/calibration/shift-response/validation.md",
        rows_for,
        table,
        "Mean PSNR (dB) over the validation regions of each student's trained scenes, as `spectra fuse` runs "
        "it (`--denoise auto`, the SRF fitted per frame), without the per-frame blur shift and with it, the "
        "shift judged through the card's SRF or with each candidate's own fitted response "
        "(`physics.SHIFT_RESPONSE`); in brackets the change from no shift, mean and worst region. "
        f"`{OTHER_CAMERAS}`: the true HR-MSI simulated with each other camera's measured RGB responses "
        f"(`srf/{CAMERAS_FILE}`), the methods told the card's, every camera's regions pooled. `LR at [::s]`: "
        "the HR cube blurred by the card's Gaussian centred on every HR pixel and sampled at `[::s]`.",
    )


if __name__ == "__main__":
    main()
