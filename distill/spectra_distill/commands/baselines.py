"""Evaluate classical fusion baselines (bicubic, GSA, MTF-GLP-HPM, SFIM, CNMF) on held-out split regions."""

from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path

from spectra_distill.baselines.evaluate import evaluate_baselines, fit_to_scale, to_markdown
from spectra_distill.baselines.methods import BASELINES
from spectra_distill.data import (
    GRIDS,
    SplitSpec,
    default_data_root,
    load_msi,
    load_scenes,
    load_split,
    resample_cube,
    split_scene,
)
from spectra_distill.data.atomic import atomic_path
from spectra_distill.data.cube import Cube
from spectra_distill.degrade.pipeline import FusionPair, WaldConfig, make_pair, make_real_pair
from spectra_distill.degrade.srf import PRESETS
from spectra_distill.errors import DatasetError
from spectra_distill.log import output

REAL_MSI = "real-msi"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None, help="data root (default: ../shared/data)")
    parser.add_argument("--scale", type=int, default=4, choices=(2, 4, 8), help="spatial ratio s (default 4)")
    parser.add_argument(
        "--msi",
        nargs="+",
        default=["rgb"],
        help=f"MSI presets ({', '.join(PRESETS)}, srf=<file>:<bands>, or {REAL_MSI}: a dataset's own "
        "co-registered HR-MSI, reduced-resolution protocol)",
    )
    parser.add_argument("--split", default="default", help="split name or YAML path")
    parser.add_argument(
        "--role", nargs="+", default=["val"], choices=("val", "test"), help="split regions to evaluate on"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(BASELINES),
        choices=list(BASELINES),
        help="baselines to run (default: all)",
    )
    parser.add_argument(
        "--grid",
        default="native",
        help="band grid: 'native' (each dataset's own bands), 'split' (the model grid of the scene's group "
        f"in the split, as the trainer sees it) or a grid name ({', '.join(GRIDS)})",
    )
    parser.add_argument("--datasets", nargs="+", default=None, help="only these datasets or scenes")
    parser.add_argument(
        "--out", type=Path, default=Path("results/distill/baselines"), help="writes OUT.json and OUT.md"
    )


def _on_grid(cube: Cube, grid: str, spec: SplitSpec) -> Cube:
    """The cube on the requested band grid ('split': the grid of the split group holding the scene)."""
    if grid == "native":
        return cube
    if grid == "split":
        scene = str(cube.provenance.get("scene"))
        groups = [g.grid for g in spec.groups.values() if scene in g.scenes]
        if not groups:
            raise DatasetError(
                f"scene {scene} is in no group of split '{spec.name}', so it has no model grid"
            )
        grid = groups[0]
    if grid not in GRIDS:
        raise ValueError(f"Unknown band grid '{grid}'; known: native, split, {', '.join(GRIDS)}")
    return resample_cube(cube, GRIDS[grid].wavelengths, GRIDS[grid].fwhm)


def _regions(
    root: Path, split: str, roles: list[str], scale: int, only: list[str] | None, grid: str
) -> tuple[list[tuple[str, Cube]], list[str]]:
    """(``dataset (role)`` label, region) pairs of held-out regions, and notes on excluded scenes."""
    spec = load_split(split)
    out: list[tuple[str, Cube]] = []
    notes: list[str] = []
    for cube in load_scenes(root, names=only):
        scene = str(cube.provenance.get("scene"))
        if scene in spec.exclude:
            notes.append(f"- scene `{scene}` excluded by the split: {spec.exclude[scene]}")
            continue
        dataset = str(cube.provenance.get("dataset", "unknown"))
        on_grid = _on_grid(cube, grid, spec)
        for role in roles:
            for region in split_scene(on_grid, spec, role):
                out.append((f"{dataset} ({role})", fit_to_scale(region, scale)))
    return out, notes


def _real_pair(cube: Cube, root: Path, scale: int) -> FusionPair:
    """The region's own HR-MSI (cropped to the region's window) and the reduced-resolution pair."""
    scene = str(cube.provenance.get("scene"))
    if "msi" not in cube.provenance:
        raise DatasetError(f"no co-registered HR-MSI for scene {scene}")
    msi = load_msi(scene, root)
    full = load_scenes(root, names=[scene])[0]
    ratio = msi.height // full.height
    if ratio != scale or msi.width != ratio * full.width:
        raise DatasetError(f"the real MSI of {scene} is {ratio}x the HSI; evaluate it with --scale {ratio}")
    top, left = cube.provenance.get("window", [0, 0])[:2]
    crop = msi.crop(top * ratio, left * ratio, cube.height * ratio, cube.width * ratio)
    return make_real_pair(cube, crop, scale)


def _command_line(args: argparse.Namespace) -> str:
    """The command that regenerates these results, from the parsed options."""
    parts = ["spectra-distill", "baselines"]
    if args.data is not None:
        parts += ["--data", str(args.data)]
    parts += [
        "--grid",
        args.grid,
        "--scale",
        str(args.scale),
        "--msi",
        *args.msi,
        "--split",
        args.split,
        "--role",
        *args.role,
    ]
    parts += ["--methods", *args.methods]
    if args.datasets:
        parts += ["--datasets", *args.datasets]
    parts += ["--out", str(args.out)]
    return " ".join(shlex.quote(p) for p in parts)


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def run(args: argparse.Namespace) -> int:
    root = (args.data or default_data_root()).resolve()
    regions, excluded = _regions(root, args.split, args.role, args.scale, args.datasets, args.grid)

    def make(cube: Cube, preset: str) -> FusionPair:
        if preset == REAL_MSI:
            return _real_pair(cube, root, args.scale)
        return make_pair(cube, WaldConfig(scale=args.scale, msi=preset, srf_dir=str(root / "srf")))

    report = evaluate_baselines(regions, args.msi, args.methods, args.scale, make)
    for key, reason in report.skipped.items():
        report.skipped[key] = reason.replace(f"{root}/", "")
    env = "OPENBLAS_NUM_THREADS=1 " if os.environ.get("OPENBLAS_NUM_THREADS") == "1" else ""
    command = env + _command_line(args)
    notes = [
        f"Split `{args.split}`, {' and '.join(args.role)} regions only (never training pixels).",
        (
            "Each dataset on its native band grid"
            if args.grid == "native"
            else f"Each scene resampled to band grid `{args.grid}` (`spectra_distill.data.resample_cube`)"
        )
        + " (masked bands excluded). "
        "Wald protocol: Gaussian PSF 2s x 2s, sigma s/2, no noise; metrics and baseline rules in "
        "`distill/METRICS.md`. Scores are means over regions; RMSE in 0..1 physical units; "
        "PSNR peak = per-band ground-truth maximum; seconds are wall time per region on a shared 2-core CPU.",
        *(
            [
                f"`{REAL_MSI}`: the scene's own co-registered HR-MSI (Houston's real RGB), "
                "reduced-resolution protocol (HSI and RGB both degraded by s, the original HSI is the "
                "reference); its SRF is unknown, so band assignment is by correlation and CNMF fits R at "
                "low resolution."
            ]
            if REAL_MSI in args.msi
            else []
        ),
        "",
        *excluded,
    ]
    md = to_markdown(report, command, notes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _write(
        args.out.with_suffix(".json"), json.dumps({"command": command, **report.as_json()}, indent=1) + "\n"
    )
    _write(args.out.with_suffix(".md"), md)
    output(md)
    return 0
