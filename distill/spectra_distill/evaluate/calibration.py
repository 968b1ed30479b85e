"""Choose how much of a network's learnt detail to keep, on validation regions only.

A FusionNet's head ends in a bias-free conv, and what follows it (adding the prior, the back-projections of
`physics.consistency`) is affine in the head's output. Scaling the learnt detail by a gain g therefore moves
the output exactly along the line between the network's prior alone (g = 0) and the network (g = 1):

    out(g) = out(0) + g * (out(1) - out(0))

so two fusions per region score every gain, and the chosen gain is baked into the head's last conv
(`FusionHead.scale_detail`): the exported graph is unchanged.

Why: a student trained on a few scenes can learn detail that is right on its training sensor and too strong
elsewhere; the 206-band student's learnt part added nothing over its in-graph physics on unseen scenes. The
gain is chosen on the split's validation regions of the trained scenes (the checkpoint's own choice set),
never on test scenes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from spectra_distill.data.splits import SplitSpec
from spectra_distill.degrade.pipeline import make_pair
from spectra_distill.errors import DatasetError
from spectra_distill.evaluate.methods import PhysicsOnlyTorchMethod, torch_method
from spectra_distill.evaluate.regions import ModelFacts, held_out_regions
from spectra_distill.evaluate.run import too_small, wald_config
from spectra_distill.metrics import evaluate as score
from spectra_distill.models.net import FusionNet


def gain_grid(start: float, stop: float, step: float) -> tuple[float, ...]:
    """start, start + step, ... up to stop inclusive (rounded to 1e-6 so 0.1 steps print as 0.1).

    Raises:
        ValueError: a negative start, stop < start or step <= 0.
    """
    if start < 0 or stop < start or step <= 0:
        raise ValueError(f"gains need 0 <= start <= stop and step > 0; got {start}, {stop}, {step}")
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    return tuple(round(start + i * step, 6) for i in range(n))


@dataclass(frozen=True)
class GainSweep:
    """Validation scores of every gain.

    Attributes:
        gains: The gains tried, ascending.
        regions: Region keys scored.
        psnr: (len(gains), len(regions)) PSNR in dB.
        sam: (len(gains), len(regions)) SAM in degrees.
        chosen: The gain with the highest mean PSNR over the regions (the smallest such gain on a tie).
    """

    gains: tuple[float, ...]
    regions: tuple[str, ...]
    psnr: np.ndarray
    sam: np.ndarray
    chosen: float

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON and the card's `detail_gain` block (the gain applied is the caller's)."""
        return {
            "chosen_on": "validation regions of the trained scenes (mean PSNR)",
            "regions": list(self.regions),
            "sweep": [
                {"gain": g, "psnr": round(float(p), 4), "sam": round(float(s), 4)}
                for g, p, s in zip(self.gains, self.psnr.mean(axis=1), self.sam.mean(axis=1), strict=True)
            ],
        }

    def to_markdown(self, title: str, command: str, applied: float) -> str:
        """Mean and per-region PSNR per gain; the `applied` gain in bold."""
        means = self.psnr.mean(axis=1)
        kept = (
            ""
            if applied == self.chosen
            else f" Applied: **{applied:g}**, the network as trained: the best did not beat it by the margin."
        )
        lines = [
            f"# {title}",
            "",
            f"Regenerate: `{command}`",
            "",
            f"Best gain: {self.chosen:g} (highest mean validation PSNR).{kept} Gain 0 is the network's "
            "in-graph physics alone, 1 the network as trained. Regions: the split's validation regions of "
            "the trained scenes; no test scene is read.",
            "",
            "| gain | mean PSNR | mean SAM | " + " | ".join(self.regions) + " |",
            "|---" * (3 + len(self.regions)) + "|",
        ]
        for i, g in enumerate(self.gains):
            mark = "**" if g == applied else ""
            cells = " | ".join(f"{v:.2f}" for v in self.psnr[i])
            lines.append(f"| {mark}{g:g}{mark} | {means[i]:.3f} | {self.sam[i].mean():.3f} | {cells} |")
        return "\n".join(lines) + "\n"


def sweep_detail_gain(
    model: FusionNet,
    facts: ModelFacts,
    root: Path,
    spec: SplitSpec,
    gains: tuple[float, ...],
    device: str = "cpu",
) -> GainSweep:
    """Score `gains` on the validation regions of `facts.datasets` (module docstring).

    Raises:
        DatasetError: no validation region large enough to score.
        ValueError: no gain, or a negative one.
    """
    if not gains or min(gains) < 0:
        raise ValueError(f"gains must be a non-empty list of values >= 0; got {gains}")
    gains = tuple(sorted(set(gains)))
    regions, _ = held_out_regions(facts, root, spec, spec, "val")
    regions = [r for r in regions if too_small(r, facts.scale) is None]
    if not regions:
        raise DatasetError(f"no validation region of {', '.join(facts.datasets)} is large enough", root)
    network = torch_method("network", model, device)
    prior = PhysicsOnlyTorchMethod(name="prior", kind="network", model=network.model, device=network.device)
    psnr = np.zeros((len(gains), len(regions)))
    sam = np.zeros_like(psnr)
    for j, region in enumerate(tqdm(regions, desc="detail gain", unit="region")):
        pair = make_pair(region.cube, wald_config(facts, root, 0))
        # `_fuse`, not `predict`: nothing is timed here, and predict's untimed warm-up would fuse twice
        with torch.no_grad():
            base, _ = prior._fuse(pair)
            full, _ = network._fuse(pair)
        detail = full - base
        for i, g in enumerate(gains):
            m = score(base + g * detail, region.cube.data, facts.scale, region.cube.valid, region.band_mask)
            psnr[i, j], sam[i, j] = m.psnr, m.sam
    chosen = gains[int(np.argmax(psnr.mean(axis=1)))]
    return GainSweep(gains, tuple(r.key for r in regions), psnr, sam, chosen)
