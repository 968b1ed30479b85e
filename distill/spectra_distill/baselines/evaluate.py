"""Run the baselines on a split's validation regions; tabulate metrics per dataset and MSI preset."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from spectra_distill.baselines.methods import run_baseline
from spectra_distill.data.cube import Cube
from spectra_distill.degrade.pipeline import FusionPair
from spectra_distill.errors import DatasetError, SRFCoverageError
from spectra_distill.metrics import evaluate
from spectra_distill.metrics.quality import SSIM_WINDOW

METRIC_KEYS = ("psnr", "sam", "ergas", "rmse", "ssim")
LOST_REPORTED = 1e-3
"""SRF response shares lost to masked bands above this are listed with the results."""


@dataclass
class BaselineReport:
    """Mean scores per (MSI preset, dataset, method) and why datasets were skipped."""

    scale: int
    rows: dict[tuple[str, str, str], dict[str, float]] = field(default_factory=dict)
    regions: dict[tuple[str, str], int] = field(default_factory=dict)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)
    srf_lost: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "results": [
                {"msi": m, "dataset": d, "method": k, "regions": self.regions[(m, d)], **v}
                for (m, d, k), v in self.rows.items()
            ],
            "skipped": [{"msi": m, "dataset": d, "reason": r} for (m, d), r in self.skipped.items()],
            "srf_lost_fraction": [
                {"msi": m, "dataset": d, "bands": v} for (m, d), v in self.srf_lost.items()
            ],
        }


def fit_to_scale(cube: Cube, scale: int) -> Cube:
    """Crop the bottom/right remainder so both sizes are multiples of ``scale``."""
    h, w = cube.height - cube.height % scale, cube.width - cube.width % scale
    return cube if (h, w) == (cube.height, cube.width) else cube.crop(0, 0, h, w)


def evaluate_baselines(
    regions: Sequence[tuple[str, Cube]],
    presets: Iterable[str],
    methods: Sequence[str],
    scale: int,
    make: Callable[[Cube, str], FusionPair],
) -> BaselineReport:
    """Fuse every (dataset, region) for every preset with every method; average the metrics per dataset.

    Args:
        regions: (dataset name, region cube) pairs, regions already cropped to multiples of ``scale``.
        presets: MSI preset names passed to ``make``.
        methods: Baseline names.
        scale: Spatial ratio (for ERGAS).
        make: Builds the fusion pair of a region for a preset; an ``SRFCoverageError`` or ``DatasetError``
            skips that dataset for that preset, with the error as the stated reason.
    """
    report = BaselineReport(scale=scale)
    acc: dict[tuple[str, str, str], list[dict[str, float]]] = defaultdict(list)
    jobs = [(p, d, c) for p in presets for d, c in regions]
    for preset, dataset, cube in tqdm(jobs, desc="baselines", unit="region"):
        if (preset, dataset) in report.skipped:
            continue
        if min(cube.height, cube.width) < max(SSIM_WINDOW, 2 * scale):
            report.skipped.setdefault((preset, dataset), f"region {cube.height}x{cube.width} too small")
            continue
        try:
            pair = make(cube, preset)
        except (SRFCoverageError, DatasetError) as exc:
            report.skipped[(preset, dataset)] = str(exc)
            continue
        report.regions[(preset, dataset)] = report.regions.get((preset, dataset), 0) + 1
        if pair.srf is not None and pair.srf.lost_fraction.max() > LOST_REPORTED:
            report.srf_lost[(preset, dataset)] = {
                n: round(float(x), 4)
                for n, x in zip(pair.srf.band_names, pair.srf.lost_fraction, strict=True)
            }
        # a real MSI has its own gaps (Houston's mosaic): pixels without MSI data are not scored
        masks = [m for m in (cube.valid, pair.hrmsi.valid) if m is not None]
        valid = np.logical_and.reduce(masks) if masks else None
        for method in methods:
            t0 = time.perf_counter()
            fused = run_baseline(method, pair)
            seconds = time.perf_counter() - t0
            scores = evaluate(fused, cube.data, scale, valid, cube.band_mask).as_dict()
            acc[(preset, dataset, method)].append({**scores, "seconds": seconds})
    for key, runs in acc.items():
        report.rows[key] = {k: float(np.mean([r[k] for r in runs])) for k in (*METRIC_KEYS, "seconds")}
    return report


def to_markdown(report: BaselineReport, command: str, notes: Sequence[str] = ()) -> str:
    """The results page: command, notes, one table per MSI preset, skipped datasets with reasons."""
    lines = ["# Classical baselines", "", f"Regenerate: `{command}`", ""]
    for note in notes:
        lines += [note, ""] if note and not note.startswith("- ") else [note]
    lines.append("")
    presets = list(dict.fromkeys([k[0] for k in report.rows] + [k[0] for k in report.skipped]))
    for preset in presets:
        lines += [f"## MSI `{preset}`, scale {report.scale}", ""]
        lines += [
            "| dataset | regions | method | PSNR (dB) | SAM (deg) | ERGAS | RMSE | SSIM | s / region |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for (p, d, m), v in report.rows.items():
            if p != preset:
                continue
            lines.append(
                f"| {d} | {report.regions[(p, d)]} | {m} | {v['psnr']:.2f} | {v['sam']:.2f} | "
                f"{v['ergas']:.2f} | {v['rmse']:.4f} | {v['ssim']:.3f} | {v['seconds']:.3f} |"
            )
        lost = [(d, v) for (p, d), v in report.srf_lost.items() if p == preset]
        if lost:
            lines += ["", "SRF response falling on masked bands (zero weight, rows renormalised):", ""]
            lines += [
                f"- {d}: " + ", ".join(f"{n} {100 * x:.1f} %" for n, x in v.items() if x > LOST_REPORTED)
                for d, v in lost
            ]
        skipped = [(d, r) for (p, d), r in report.skipped.items() if p == preset]
        if skipped:
            lines += ["", "Skipped:", ""]
            lines += [f"- {d}: {r}" for d, r in skipped]
        lines.append("")
    return "\n".join(lines)
