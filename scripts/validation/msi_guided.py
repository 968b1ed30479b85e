"""Validation evidence for the HR-MSI-guided LR-HSI denoising of `--denoise auto`
(`models.subspace.msi_guided`, results/distill/calibration/msi-guided/).

The shipped students (PyTorch, with the per-frame physics they are exported with) on the validation regions
of their trained scenes, clean, with noise on both inputs or on one, and with noise on the LR-HSI while the
camera is described slightly wrong (where the HR-MSI's prediction of the LR-HSI is off): the output only
projected onto the LR-HSI's signal subspace (as before), and the LR-HSI first denoised with the HR-MSI's help
(as `--denoise auto` now does). No test scene is read.

    .venv/bin/python scripts/validation/msi_guided.py models/student-cave31-rgb-x4.weights.pt \
        models/student-rs206-s2x4-x4.weights.pt
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from regions import ValidationRegions  # beside this script
from report import comparison_table, validation_main

from spectra_distill.evaluate import generalisation
from spectra_distill.evaluate.methods import subspace_method, torch_method
from spectra_distill.models.subspace import AUTO_DENOISE_SNR_DB, project, signal_subspace

CASES = (
    "nominal",
    "noise 40 dB",
    "noise 30 dB",
    "noise 30 dB, HR-MSI only",
    "noise 30 dB, LR-HSI only",
)
# the camera described wrong, with LR-HSI noise that makes `--denoise auto` guide
MISMATCHED = (
    "PSF sigma +0.5 px",
    "SRF +8 nm",
    "LR sampled at [::s]",
    "LR resized (bicubic, antialiased)",
    "camera Point_Grey_Grasshopper_50S5C",
    "sensor Landsat-8 OLI",
)


def cases_for(msi_preset: str) -> list[generalisation.CameraCase]:
    noisy = [
        replace(c, name=f"{c.name}, noise 30 dB on the LR-HSI", snr_db=30.0, noise_on="lrhsi")
        for c in generalisation.cases_named(MISMATCHED)
    ]
    return [c for c in [*generalisation.cases_named(CASES), *noisy] if c.msi_of in (None, msi_preset)]


def rows_for(weights: str, root: Path) -> list[dict]:
    val = ValidationRegions.load(weights, root)
    shipped = val.model.with_physics(srf_estimate=True, shift_estimate=True, msi_denoise=True)
    net = torch_method("student", shipped.eval(), "cpu")
    guided = subspace_method(net, val.facts, auto=True)
    valid = np.asarray(val.facts.band_valid, dtype=bool)
    out = []
    for case, r, pair in val.pairs(cases_for(val.facts.msi_preset)):
        sub = signal_subspace(pair.lrhsi.data, valid)
        fused = net.predict(pair).cube
        out.append(
            {
                "model": val.name,
                "case": case.name,
                "region": r.key,
                "projected": val.psnr(r, project(fused, sub) if sub.snr_db < AUTO_DENOISE_SNR_DB else fused),
                "guided": val.psnr(r, guided.predict(pair).cube),
            }
        )
    return out


def table(rows: list[dict]) -> list[str]:
    columns = [("LR-HSI guided by the HR-MSI", "guided", True)]
    return comparison_table(rows, "projected", "output projected", columns)


def main() -> None:
    validation_main(
        __doc__,
        "msi_guided.py",
        "results/distill/calibration/msi-guided/validation.md",
        rows_for,
        table,
        "Mean PSNR (dB) over the validation regions of each student's trained scenes as `--denoise auto` "
        f"leaves them (below {AUTO_DENOISE_SNR_DB:g} dB LR-HSI SNR): the output projected onto the LR-HSI's "
        "signal subspace, and the LR-HSI first denoised with the HR-MSI's help; in brackets the change, mean "
        "and worst region. Noise: AWGN at that SNR on both inputs unless one is named.",
    )


if __name__ == "__main__":
    main()
