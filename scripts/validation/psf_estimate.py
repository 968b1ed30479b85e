"""Validation evidence for the per-frame PSF, `psf_estimate` (results/distill/calibration/psf-estimate/).

Physics alone on the validation regions of a checkpoint's trained scenes, each simulated with the camera cases
of the generalisation tables, without the estimate and with it at several switch margins; no test scene is
read.

    .venv/bin/python scripts/validation/psf_estimate.py runs/rs_reg/best.pt
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import spectra_distill.models.physics as physics
from spectra_distill.data import default_data_root
from spectra_distill.data.splits import load_split
from spectra_distill.evaluate.generalisation import CASES as TABLE_CASES
from spectra_distill.evaluate.generalisation import simulate
from spectra_distill.evaluate.methods import PhysicsOnlyTorchMethod, torch_method
from spectra_distill.evaluate.regions import ModelFacts, held_out_regions
from spectra_distill.evaluate.run import too_small, wald_config
from spectra_distill.export.model import load_checkpoint_model
from spectra_distill.metrics import evaluate as score

# the generalisation tables' cases that bear on the blur (and noise, which must not move it)
BLUR_CASES = ("nominal", "PSF sigma -0.5 px", "PSF sigma +0.5 px", "PSF truncated (s taps)", "noise 30 dB")
CASES = tuple(c for c in TABLE_CASES if c.name in BLUR_CASES)
MARGINS = (None, 0.0, 0.1, 0.3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    args = p.parse_args()
    model, ckpt = load_checkpoint_model(args.checkpoint, "student")
    facts = ModelFacts.from_card(ckpt["card"], args.checkpoint)
    root = default_data_root().resolve()
    spec = load_split(facts.split)
    regions = held_out_regions(facts, root, spec, spec, "val")[0]
    regions = [r for r in regions if too_small(r, facts.scale) is None]
    wald = wald_config(facts, root, 0)
    pairs = {c.name: [simulate(r.cube, facts, wald, c, 0) for r in regions] for c in CASES}
    for margin in MARGINS:
        net = model.with_physics(psf_estimate=margin is not None).eval()
        if margin is not None:
            physics.PSF_SWITCH_MARGIN = margin  # read by estimate_taps on each call
        network = torch_method("network", net, "cpu")
        prior = PhysicsOnlyTorchMethod(
            name="prior", kind="network", model=network.model, device=network.device
        )
        cells = []
        for case in CASES:
            psnr = []
            for region, pair in zip(regions, pairs[case.name], strict=True):
                with torch.no_grad():
                    out, _ = prior._fuse(pair)
                m = score(out, region.cube.data, facts.scale, region.cube.valid, region.band_mask)
                psnr.append(m.psnr)
            cells.append(f"{case.name} {np.mean(psnr):.3f} (worst {np.min(psnr):.2f})")
        print("estimate off" if margin is None else f"margin {margin:g}", "|", " | ".join(cells))


if __name__ == "__main__":
    main()
