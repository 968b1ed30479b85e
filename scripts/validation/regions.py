"""The validation regions every validation script scores a student on: no test scene is read."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from spectra_distill.data.splits import load_split
from spectra_distill.degrade.pipeline import FusionPair, WaldConfig
from spectra_distill.evaluate.generalisation import CameraCase, simulate
from spectra_distill.evaluate.regions import EvalRegion, ModelFacts, held_out_regions
from spectra_distill.evaluate.run import too_small, wald_config
from spectra_distill.export.model import load_checkpoint_model
from spectra_distill.metrics import evaluate as score
from spectra_distill.models.net import FusionNet


@dataclass
class ValidationRegions:
    """A student's weights and the validation regions of the scenes it trained on, large enough to fuse."""

    name: str
    model: FusionNet
    facts: ModelFacts
    regions: list[EvalRegion]
    wald: WaldConfig

    @classmethod
    def load(cls, weights: str, root: Path) -> ValidationRegions:
        model, ckpt = load_checkpoint_model(weights, "student")
        facts = ModelFacts.from_card(ckpt["card"], weights)
        spec = load_split(facts.split)
        regions = held_out_regions(facts, root, spec, spec, "val")[0]
        usable = [r for r in regions if too_small(r, facts.scale) is None]
        return cls(Path(weights).name.split(".")[0], model, facts, usable, wald_config(facts, root, 0))

    def pairs(self, cases: Iterable[CameraCase]) -> Iterator[tuple[CameraCase, EvalRegion, FusionPair]]:
        """Every region simulated under every case (seed 0), with a progress bar over the cases."""
        for case in tqdm(list(cases), desc=self.name, unit="case"):
            for r in self.regions:
                yield case, r, simulate(r.cube, self.facts, self.wald, case, 0)

    def psnr(self, region: EvalRegion, cube: np.ndarray) -> float:
        """PSNR of a fused region against its reference, on the bands and pixels scored."""
        return score(cube, region.cube.data, self.facts.scale, region.cube.valid, region.band_mask).psnr
