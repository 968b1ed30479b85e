"""Validation evidence for `AUTO_DENOISE_SNR_DB` (results/distill/calibration/denoise-auto/README.md).

The SNR the LR-HSI reads (`models.subspace.signal_subspace(...).snr_db`, the SDK's `autoSubspace`) on the
validation regions of a checkpoint's trained scenes: clean, and with 30 and 40 dB noise; no test scene is
read.

    .venv/bin/python scripts/validation/denoise_threshold.py runs/rs_reg/best.pt runs/cave_reg/best.pt
"""

from __future__ import annotations

import argparse

import numpy as np

from spectra_distill.data import default_data_root
from spectra_distill.data.splits import load_split
from spectra_distill.evaluate.generalisation import CameraCase, simulate
from spectra_distill.evaluate.regions import ModelFacts, held_out_regions
from spectra_distill.evaluate.run import too_small, wald_config
from spectra_distill.export.model import load_checkpoint_model
from spectra_distill.models.subspace import signal_subspace

CASES = (CameraCase("clean"), CameraCase("30 dB noise", snr_db=30.0), CameraCase("40 dB noise", snr_db=40.0))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+")
    args = p.parse_args()
    root = default_data_root().resolve()
    for path in args.checkpoints:
        _, ckpt = load_checkpoint_model(path, "student")
        facts = ModelFacts.from_card(ckpt["card"], path)
        spec = load_split(facts.split)
        regions = held_out_regions(facts, root, spec, spec, "val")[0]
        regions = [r for r in regions if too_small(r, facts.scale) is None]
        for case in CASES:
            snr = []
            for r in regions:
                lr = simulate(r.cube, facts, wald_config(facts, root, 0), case, 0).lrhsi.data
                snr.append(signal_subspace(lr, np.asarray(facts.band_valid, dtype=bool)).snr_db)
            print(path, case.name, " ".join(f"{v:.1f}" for v in snr))


if __name__ == "__main__":
    main()
