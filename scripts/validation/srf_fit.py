"""Validation evidence for the per-frame SRF, `srf_estimate` (results/distill/calibration/srf-fit/).

The shipped students (PyTorch, as `spectra fuse` runs them: `--denoise auto`) on the validation regions of
their trained scenes, each simulated with a camera the card does not describe: the card's SRF shifted by
+-8 nm, every other camera of `srf/camspec_28cameras_srf.csv` (RGB grid), and 30 dB noise on both inputs
(where the fit must keep the card's response); the back-projection with the card's SRF and with the fitted
one at several noise ridges (`physics.SRF_NOISE_RIDGE`). No test scene is read.

    .venv/bin/python scripts/validation/srf_fit.py models/student-cave31-rgb-x4.weights.pt \
        models/student-rs206-s2x4-x4.weights.pt
"""

from __future__ import annotations

from pathlib import Path

from regions import ValidationRegions  # beside this script
from report import comparison_table, validation_main

import spectra_distill.models.physics as physics
from spectra_distill.degrade.srf import load_srf
from spectra_distill.evaluate.generalisation import CAMERAS_FILE, CameraCase, rgb_camera
from spectra_distill.evaluate.methods import subspace_method, torch_method

CARD_CAMERA = "Nikon_D700"
NOISE_RIDGES = (0.0, 10.0, 100.0, 1000.0)
SHIPPED = physics.SRF_NOISE_RIDGE
CASES = (
    CameraCase("nominal"),
    CameraCase("noise 30 dB", snr_db=30.0),
    CameraCase("SRF +8 nm", srf_shift_nm=8.0),
    CameraCase("SRF -8 nm", srf_shift_nm=-8.0),
)


def cameras(root: Path) -> list[str]:
    names = load_srf(root / "srf" / CAMERAS_FILE).names
    return sorted({n.rsplit("_", 1)[0] for n in names} - {CARD_CAMERA})


def rows_for(weights: str, root: Path) -> list[dict]:
    val = ValidationRegions.load(weights, root)
    card = subspace_method(
        torch_method("card SRF", val.model.with_physics(srf_estimate=False).eval(), "cpu"),
        val.facts,
        auto=True,
    )
    fitted = subspace_method(
        torch_method("fitted SRF", val.model.with_physics(srf_estimate=True).eval(), "cpu"),
        val.facts,
        auto=True,
    )
    cases = [
        *CASES,
        *(rgb_camera(c) for c in cameras(root) if val.facts.msi_preset == "rgb"),
    ]
    out = []
    for case, r, pair in val.pairs(cases):
        row = {"model": val.name, "case": case.name, "region": r.key}
        row["card"] = val.psnr(r, card.predict(pair).cube)
        for ridge in NOISE_RIDGES:
            physics.SRF_NOISE_RIDGE = ridge
            row[ridge] = val.psnr(r, fitted.predict(pair).cube)
        out.append(row)
    physics.SRF_NOISE_RIDGE = SHIPPED
    return out


def table(rows: list[dict]) -> list[str]:
    columns = [(f"fitted, noise ridge {g:g}", g, g == SHIPPED) for g in NOISE_RIDGES]
    return comparison_table(rows, "card", "card SRF", columns)


def main() -> None:
    validation_main(
        __doc__,
        "srf_fit.py",
        "results/distill/calibration/srf-fit/validation.md",
        rows_for,
        table,
        "Mean PSNR (dB) over the validation regions of each student's trained scenes, as `spectra fuse` runs "
        "it (`--denoise auto`), with the card's SRF in the spectral back-projection and with the SRF fitted "
        "per frame (`physics.fit_srf`) at each noise ridge; in brackets the change from the card's SRF, mean "
        "and worst region. Cameras: the true HR-MSI simulated with that camera's measured RGB responses "
        f"(`srf/{CAMERAS_FILE}`), the methods told the card's ({CARD_CAMERA}).",
    )


if __name__ == "__main__":
    main()
