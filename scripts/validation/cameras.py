"""Validation evidence for training with other cameras (results/distill/calibration/cameras/).

The shipped CAVE-grid student against the same student fine-tuned with camera randomisation
(`options/cave31_rgb_x4_cameras.yaml`), both as `spectra fuse` runs them (`--denoise auto`, SRF fitted),
on the validation regions of their trained scenes: the card's camera, noise, SRF shifts, the 12 cameras the
fine-tuning drew from, and the 11 it never saw (every other camera of `srf/camspec_28cameras_srf.csv` but the
card's and the four of the generalisation tables' robustness cases). No test scene is read.

    .venv/bin/python scripts/validation/cameras.py models/student-cave31-rgb-x4.weights.pt \
        out/runs/cave_cameras/best.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from regions import ValidationRegions  # beside this script
from report import comparison_table, write_report

from spectra_distill.degrade.srf import load_srf
from spectra_distill.evaluate.generalisation import CAMERAS, CAMERAS_FILE, CameraCase, rgb_camera
from spectra_distill.evaluate.methods import subspace_method, torch_method
from spectra_distill.export.model import load_checkpoint_model

CARD_CAMERA = "Nikon_D700"
EXPERIMENT = Path("distill/spectra_distill/options/cave31_rgb_x4_cameras.yaml")
TRAINED, HELD_OUT = "the 12 training cameras", "the 11 held-out cameras"
CASES = (
    CameraCase("nominal"),
    CameraCase("noise 30 dB", snr_db=30.0),
    CameraCase("SRF +8 nm", srf_shift_nm=8.0),
    CameraCase("SRF -8 nm", srf_shift_nm=-8.0),
)


def camera_groups(root: Path) -> tuple[list[str], list[str]]:
    """(training cameras, held-out cameras), read from the experiment file and the SRF table."""
    drawn = yaml.safe_load(EXPERIMENT.read_text())["data"]["msi_cameras"]
    trained = sorted(preset.split(":")[1].split(",")[0].rsplit("_", 1)[0] for preset in drawn)
    every = {n.rsplit("_", 1)[0] for n in load_srf(root / "srf" / CAMERAS_FILE).names}
    held_out = sorted(every - set(trained) - {CARD_CAMERA, *CAMERAS})
    return trained, held_out


def rows_for(shipped: str, candidates: list[str], root: Path) -> list[dict]:
    val = ValidationRegions.load(shipped, root)
    shipped_model = torch_method("shipped", val.model.eval(), "cpu")
    methods = {"shipped": subspace_method(shipped_model, val.facts, auto=True)}
    for path in candidates:
        model, _ = load_checkpoint_model(path, "student")
        methods[path] = subspace_method(torch_method(path, model.eval(), "cpu"), val.facts, auto=True)
    trained, held_out = camera_groups(root)
    cases = [
        *CASES,
        *(rgb_camera(c) for c in trained),
        *(rgb_camera(c) for c in held_out),
    ]
    group = {f"camera {c}": TRAINED for c in trained} | {f"camera {c}": HELD_OUT for c in held_out}
    out = []
    for case, r, pair in val.pairs(cases):
        row = {"model": val.name, "case": group.get(case.name, case.name), "region": r.key}
        row |= {key: val.psnr(r, m.predict(pair).cube) for key, m in methods.items()}
        out.append(row)
    return out


def main() -> None:
    from spectra_distill.data import default_data_root

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("shipped", help="the shipped student's .weights.pt")
    p.add_argument("candidates", nargs="+", help="fine-tuned students (checkpoints or .weights.pt)")
    p.add_argument("--out", type=Path, default=Path("results/distill/calibration/cameras/validation.md"))
    args = p.parse_args()
    rows = rows_for(args.shipped, args.candidates, default_data_root().resolve())
    command = f".venv/bin/python scripts/validation/cameras.py {args.shipped} {' '.join(args.candidates)}"
    columns = [(path, path, False) for path in args.candidates]
    write_report(
        args.out,
        command,
        "Mean PSNR (dB) over the validation regions of the student's trained scenes, as `spectra fuse` runs "
        "it (`--denoise auto`, SRF fitted per frame), shipped and fine-tuned with camera randomisation; in "
        "brackets the change from the shipped student, mean and worst region. Camera rows pool every region "
        "of every camera in the group, each simulated with that camera's measured RGB responses "
        f"(`srf/{CAMERAS_FILE}`), the students told the card's ({CARD_CAMERA}).",
        comparison_table(rows, "shipped", "shipped", columns),
    )


if __name__ == "__main__":
    main()
