"""Validation evidence for `physics.HPM_RATIO_CAP` (results/distill/calibration/ratio-cap/README.md).

Physics alone (the learnt detail at zero: `calibrate`'s gain-0 score) on the validation regions of a
checkpoint's trained scenes, with the regression prior's modulation ratio capped at each value tried; no test
scene is read.

    .venv/bin/python scripts/validation/ratio_cap.py runs/rs_reg/best.pt
    .venv/bin/python scripts/validation/ratio_cap.py runs/cave_reg/best.pt
"""

from __future__ import annotations

import argparse

import spectra_distill.models.physics as physics
from spectra_distill.data import default_data_root
from spectra_distill.data.splits import load_split
from spectra_distill.evaluate.calibration import sweep_detail_gain
from spectra_distill.evaluate.regions import ModelFacts
from spectra_distill.export.model import load_checkpoint_model

CAPS = (None, 16.0, 8.0, 6.0, 4.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    args = p.parse_args()
    model, ckpt = load_checkpoint_model(args.checkpoint, "student")
    model.eval()
    facts = ModelFacts.from_card(ckpt["card"], args.checkpoint)
    root = default_data_root().resolve()
    spec = load_split(facts.split)
    for cap in CAPS:
        physics.HPM_RATIO_CAP = float("inf") if cap is None else cap  # read by regression_prior on each call
        psnr = sweep_detail_gain(model, facts, root, spec, (0.0,)).psnr[0]
        print(f"cap {cap or 'none'}: mean {psnr.mean():.3f} dB, worst region {psnr.min():.2f} dB")


if __name__ == "__main__":
    main()
