"""Validation evidence for the HR-MSI's detail shrinkage, `msi_denoise`
(results/distill/calibration/msi-denoise/).

The shipped students (PyTorch, as `spectra fuse` runs them: `--denoise auto`) on the validation regions of
their trained scenes, clean, with noise on both inputs or on one, and with the camera described slightly
wrong (where a noise estimate could read a mismatch as noise): without the shrinkage, with each band's own
noise estimate, and with the smallest of the bands' estimates for all (`physics.MSI_NOISE_COMMON`). No test
scene is read.

    .venv/bin/python scripts/validation/msi_denoise.py models/student-cave31-rgb-x4.weights.pt \
        models/student-rs206-s2x4-x4.weights.pt
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from regions import ValidationRegions  # beside this script
from report import comparison_table, validation_main

import spectra_distill.models.physics as physics
from spectra_distill.evaluate import generalisation
from spectra_distill.evaluate.methods import subspace_method, torch_method

SHIPPED = physics.MSI_NOISE_COMMON
VARIANTS = {"each band's own noise": False, "the smallest band noise for all": True}
CASES = (
    "nominal",
    "noise 40 dB",
    "noise 30 dB",
    "noise 30 dB, HR-MSI only",
    "noise 30 dB, LR-HSI only",
    "PSF sigma +0.5 px",
    "SRF +8 nm",
    "LR sampled at [::s]",
    "LR resized (bicubic, antialiased)",
    "camera Nokia_N900",
    "camera Point_Grey_Grasshopper_50S5C",
    "sensor Landsat-8 OLI",
)


def denoise_rows(weights: str, root: Path, constant: str, settings: dict[str, Any]) -> list[dict]:
    """Per case and region: the student with the HR-MSI as captured ("plain"), and with `msi_denoise` under
    each of `settings` (column name -> value of `physics.<constant>`); the constant is restored after."""
    val = ValidationRegions.load(weights, root)
    cases = [c for c in generalisation.cases_named(CASES) if c.msi_of in (None, val.facts.msi_preset)]
    methods = {
        key: subspace_method(
            torch_method(key, val.model.with_physics(msi_denoise=key != "plain").eval(), "cpu"),
            val.facts,
            auto=True,
        )
        for key in ("plain", "denoised")
    }
    shipped = getattr(physics, constant)
    out = []
    for case, r, pair in val.pairs(cases):
        row = {"model": val.name, "case": case.name, "region": r.key}
        row["plain"] = val.psnr(r, methods["plain"].predict(pair).cube)
        for name, value in settings.items():
            setattr(physics, constant, value)
            row[name] = val.psnr(r, methods["denoised"].predict(pair).cube)
        setattr(physics, constant, shipped)
        out.append(row)
    return out


def gate_main(doc: str, script: str, default_out: str, constant: str, gate: str, description: str) -> None:
    """The command line of a script that compares a gate on the shrunk HR-MSI's remaining noise
    (`physics.<constant>`) off (its part kept whole) and on, beside the HR-MSI as captured. `gate` names the
    part gated, e.g. "pan detail"."""
    whole, gated = f"{gate} whole", f"{gate} at its gain"

    def rows_for(weights: str, root: Path) -> list[dict]:
        return denoise_rows(weights, root, constant, {whole: False, gated: True})

    def table(rows: list[dict]) -> list[str]:
        columns = [("HR-MSI as captured", "plain", False), (gated, gated, True)]
        return comparison_table(rows, whole, f"detail shrunk, {whole}", columns)

    validation_main(doc, script, default_out, rows_for, table, description)


def rows_for(weights: str, root: Path) -> list[dict]:
    return denoise_rows(weights, root, "MSI_NOISE_COMMON", VARIANTS)


def table(rows: list[dict]) -> list[str]:
    columns = [(name, name, common == SHIPPED) for name, common in VARIANTS.items()]
    return comparison_table(rows, "plain", "HR-MSI as captured", columns)


def main() -> None:
    validation_main(
        __doc__,
        "msi_denoise.py",
        "results/distill/calibration/msi-denoise/validation.md",
        rows_for,
        table,
        "Mean PSNR (dB) over the validation regions of each student's trained scenes, as `spectra fuse` runs "
        "it (`--denoise auto`), with the HR-MSI as captured and with its detail levels kept at their Wiener "
        "gains (`physics.MsiDenoise`), the noise measured per band or the smallest band's for all "
        "(`physics.MSI_NOISE_COMMON`); in brackets the change from the HR-MSI as captured, mean and worst "
        "region. Noise: AWGN at that SNR on both inputs unless one is named.",
    )


if __name__ == "__main__":
    main()
