"""Generalisation: networks against the classical methods on whole scenes no network trained on or was chosen by.

The scenes are the split's test scenes of the model's group (`regions.group_test_scenes`): declared in
`splits/default.yaml` before training, never sampled for training, never used to pick a checkpoint. Each scene
is scored under the nominal camera and under cameras described slightly wrong (`CASES`): the pair is simulated
with the true camera, while every method (networks and classical alike) is given the nominal PSF and SRF.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from spectra_distill.data import load_scenes, scene_index
from spectra_distill.data.cube import Cube
from spectra_distill.data.splits import load_split
from spectra_distill.degrade.noise import add_awgn
from spectra_distill.degrade.pipeline import FusionPair, WaldConfig, degrade_cube, make_pair
from spectra_distill.degrade.psf import blur_sample, make_psf, spatial_degrade
from spectra_distill.degrade.srf import project_cube, srf_for_cube
from spectra_distill.degrade.torch_ops import resize_down
from spectra_distill.errors import SRFCoverageError
from spectra_distill.evaluate.methods import BaselineMethod, Method, TorchMethod
from spectra_distill.evaluate.regions import EvalRegion, ModelFacts, _regions_of, group_test_scenes
from spectra_distill.metrics import evaluate as score
from spectra_distill.metrics import psnr

logger = logging.getLogger(__name__)


NOISE_TARGETS = ("both", "lrhsi", "hrmsi")


@dataclass(frozen=True)
class CameraCase:
    """How the true camera differs from the one the methods are told about.

    Attributes:
        name: Row label.
        psf_sigma: Added to the nominal PSF sigma (HR px).
        psf_taps: PSF taps (None = nominal): fewer taps truncate the Gaussian into another shape.
        srf_shift_nm: The true MSI responses sit this many nm from the described ones.
        snr_db: AWGN on the inputs `noise_on` names (None = clean).
        noise_on: "both", "lrhsi" or "hrmsi": the input(s) `snr_db` applies to.
        gain: Both inputs come in other units, this many times the reflectance the methods were built on (raw
            DN or radiance); the outputs are divided by it before scoring.
        msi: The HR-MSI comes from another camera or satellite sensor with the same bands: its MSI preset
            (`degrade.srf`, `srf=<file>:<bands>`) instead of the card's.
        msi_of: The model MSI preset `msi` stands in for; the case applies to those models only.
        lr_phase: The LR-HSI is the HR cube blurred with the Gaussian centred on every HR pixel and sampled
            at HR pixels `k + i*s`, k = lr_phase * s, as `gaussian_filter(hr)[..., k::s, k::s]` simulates it,
            instead of at the middle of each s x s block (the card's convention): the two inputs are then
            `k - (s - 1) / 2` HR px out of register.
        lr_resize: The LR-HSI is the HR cube resized by 1/s with an image library's antialiased resampler
            (`torch.nn.functional.interpolate`, 'bicubic' or 'area'; MATLAB's `imresize` and PIL's resize are
            alike) instead of the card's Gaussian: a blur with negative lobes, wider than the card's taps.
    """

    name: str
    psf_sigma: float = 0.0
    psf_taps: int | None = None
    srf_shift_nm: float = 0.0
    snr_db: float | None = None
    noise_on: str = "both"
    gain: float = 1.0
    msi: str | None = None
    msi_of: str | None = None
    lr_phase: float | None = None
    lr_resize: str | None = None

    def __post_init__(self) -> None:
        if self.noise_on not in NOISE_TARGETS:
            raise ValueError(f"noise_on {self.noise_on!r}; known: {', '.join(NOISE_TARGETS)}")


CAMERAS_FILE = "camspec_28cameras_srf.csv"
# RGB cameras other than the card's Nikon D700, fixed before any test scene was scored with them: two DSLR
# makers, a phone and a machine-vision camera
CAMERAS = ("Canon_5DMarkII", "SONY_NEX-5N", "Nokia_N900", "Point_Grey_Grasshopper_50S5C")
# satellites whose blue, green, red and NIR bands stand in for Sentinel-2A's B2, B3, B4, B8
SENSORS = {
    "Sentinel-2B": "srf=s2b_msi_srf.csv:B2,B3,B4,B8",
    "Landsat-8 OLI": "srf=l8_oli_srf.csv:B2,B3,B4,B5",
    "WorldView-3": "srf=worldview3_srf.csv:BLUE,GREEN,RED,NIR1",
}


def rgb_camera(name: str) -> CameraCase:
    """The case whose HR-MSI comes from camera `name` of `CAMERAS_FILE` (its measured R, G, B responses)."""
    return CameraCase(f"camera {name}", msi=f"srf={CAMERAS_FILE}:{name}_R,{name}_G,{name}_B", msi_of="rgb")


CASES = (
    CameraCase("nominal"),
    CameraCase("PSF sigma -0.5 px", psf_sigma=-0.5),
    CameraCase("PSF sigma +0.5 px", psf_sigma=0.5),
    CameraCase("PSF truncated (s taps)", psf_taps=-1),
    CameraCase("LR sampled at [::s]", lr_phase=0.0),
    CameraCase("LR sampled at [s/4::s]", lr_phase=0.25),
    CameraCase("LR sampled at [s/2::s]", lr_phase=0.5),
    CameraCase("LR resized (bicubic, antialiased)", lr_resize="bicubic"),
    CameraCase("LR resized (area)", lr_resize="area"),
    CameraCase("SRF +8 nm", srf_shift_nm=8.0),
    CameraCase("SRF -8 nm", srf_shift_nm=-8.0),
    CameraCase("noise 30 dB", snr_db=30.0),
    CameraCase("raw units (x1000)", gain=1000.0),
    *(rgb_camera(name) for name in CAMERAS),
    *(CameraCase(f"sensor {name}", msi=preset, msi_of="s2_4") for name, preset in SENSORS.items()),
    # another camera's response and an LR-HSI out of register at once (added 2026-12-07, before any test scene
    # was scored with them): the shift search must not take the one for the other
    CameraCase("SRF +8 nm, LR at [::s]", srf_shift_nm=8.0, lr_phase=0.0),
    replace(rgb_camera(CAMERAS[-1]), name=f"camera {CAMERAS[-1]}, LR at [::s]", lr_phase=0.0),
    CameraCase(
        "sensor Landsat-8 OLI, LR at [::s]", msi=SENSORS["Landsat-8 OLI"], msi_of="s2_4", lr_phase=0.0
    ),
    # noise on one input only, and milder noise (added 2026-12-07, before any test scene was scored with them)
    CameraCase("noise 30 dB, HR-MSI only", snr_db=30.0, noise_on="hrmsi"),
    CameraCase("noise 30 dB, LR-HSI only", snr_db=30.0, noise_on="lrhsi"),
    CameraCase("noise 40 dB", snr_db=40.0),
    # a noisy LR-HSI off the card's convention, as a real pair from two sensors often is (added with the
    # HR-MSI-guided LR-HSI of `--denoise`, before any test scene was scored with them)
    CameraCase("LR at [::s], noise 30 dB on the LR-HSI", lr_phase=0.0, snr_db=30.0, noise_on="lrhsi"),
    CameraCase(
        "LR resized (bicubic), noise 30 dB on the LR-HSI", lr_resize="bicubic", snr_db=30.0, noise_on="lrhsi"
    ),
)


def cases_named(names: Iterable[str]) -> tuple[CameraCase, ...]:
    """The cases of `CASES` with these names, in `CASES`' order.

    Raises:
        ValueError: a name no case has (a misspelt camera would otherwise drop its rows without a word).
    """
    wanted = set(names)
    unknown = sorted(wanted - {c.name for c in CASES})
    if unknown:
        known = ", ".join(c.name for c in CASES)
        raise ValueError(f"unknown case {', '.join(map(repr, unknown))}; known: {known}")
    return tuple(c for c in CASES if c.name in wanted)


def simulate(cube: Cube, facts: ModelFacts, wald: WaldConfig, case: CameraCase, seed: int) -> FusionPair:
    """A pair from the true camera of `case`, carrying the nominal (described) PSF and SRF."""
    nominal = make_pair(cube, wald)
    if case == CameraCase(case.name):
        return nominal
    taps = facts.scale if case.psf_taps == -1 else (case.psf_taps or facts.psf_kernel_size)
    true_psf = make_psf(facts.scale, taps, facts.psf_sigma + case.psf_sigma)
    lr = degrade_cube(cube, facts.scale, true_psf)
    if case.lr_resize is not None:
        lr = lr.with_data(resize_down(cube.data, facts.scale, case.lr_resize))
    if case.lr_phase is not None:
        start = round(case.lr_phase * facts.scale)
        lr = lr.with_data(blur_sample(cube.data, facts.psf_sigma + case.psf_sigma, facts.scale, start))
    # the true response at wavelength w is the described one at w - shift
    shifted = replace(cube, wavelengths=cube.wavelengths - case.srf_shift_nm)
    msi = (
        project_cube(cube, replace(wald, srf_clip=True).srf(shifted)) if case.srf_shift_nm else nominal.hrmsi
    )
    if case.msi is not None:
        if facts.msi_preset != case.msi_of:
            raise ValueError(
                f"case {case.name!r} stands in for a {case.msi_of!r} HR-MSI; "
                f"this model's is {facts.msi_preset!r}"
            )
        msi = project_cube(cube, srf_for_cube(cube, case.msi, clip=True, srf_dir=wald.srf_dir))
    if case.snr_db is not None:
        rng = np.random.default_rng(seed)
        if case.noise_on in ("both", "lrhsi"):
            lr = lr.with_data(add_awgn(lr.data, case.snr_db, rng, lr.valid, lr.band_mask))
        if case.noise_on in ("both", "hrmsi"):
            msi = msi.with_data(add_awgn(msi.data, case.snr_db, rng, msi.valid))
    if case.gain != 1.0:
        lr, msi = lr.with_data(lr.data * case.gain), msi.with_data(msi.data * case.gain)
    return replace(nominal, lrhsi=lr, hrmsi=msi)


def consistency_psnr(pred: np.ndarray, pair: FusionPair, band_mask: np.ndarray) -> tuple[float, float]:
    """(spatial, spectral) dB: the output re-degraded against the LR-HSI and projected against the HR-MSI."""
    spatial = psnr(spatial_degrade(pred, pair.scale, pair.psf), pair.lrhsi.data, None, band_mask)
    if pair.srf is None:
        return spatial, float("nan")
    return spatial, psnr(pair.srf.project(pred), pair.hrmsi.data)


@dataclass
class GeneralisationResult:
    """Rows per (case, scene, method) and the stream gates of the networks on the nominal pairs."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    scenes: list[str] = field(default_factory=list)


def test_scenes(facts: ModelFacts, root: Path) -> list[EvalRegion]:
    """Whole test scenes of the model's group, on the model grid, cropped to the scale."""
    spec = load_split(facts.split)
    index = scene_index(root)
    trained: list[str] = []
    for name in facts.datasets:
        # a dataset folder trains on its scenes that are not test scenes (CAVE balloons is one of cave_kbr's)
        members = [s for s, (d, _) in index.items() if d.folder == name and name not in index]
        trained += [s for s in members if s not in spec.scenes or spec.scenes[s].role != "test"] or [name]
    names = group_test_scenes(spec, trained)
    missing = [n for n in names if n not in index]
    if missing:
        logger.warning("test scenes not in %s, left out of the table: %s", root, ", ".join(missing))
    names = [n for n in names if n in index]
    regions: list[EvalRegion] = []
    for scene in load_scenes(root, names=names):
        regions += _regions_of(scene, facts, spec, spec, ["test"], trained=False)
    return regions


def run_generalisation(
    facts: ModelFacts,
    methods: list[Method],
    root: Path,
    cases: tuple[CameraCase, ...] = CASES,
) -> GeneralisationResult:
    """Score every method on every test scene under every camera case."""
    result = GeneralisationResult()
    regions = test_scenes(facts, root)
    wald = WaldConfig(
        scale=facts.scale,
        psf_kernel_size=facts.psf_kernel_size,
        psf_sigma=facts.psf_sigma,
        msi=facts.msi_preset,
        srf_dir=str(root / "srf"),
    )
    usable = []
    for r in regions:
        try:
            wald.srf(r.cube)
            usable.append(r)
        except SRFCoverageError:
            continue  # the model's MSI bands lie outside this scene's range (S2 NIR on a 400-700 nm scene)
    regions = usable
    result.scenes = [r.scene for r in regions]
    jobs = [(c, r) for c in cases for r in regions]
    for i, (case, region) in enumerate(tqdm(jobs, desc="generalisation", unit="pair")):
        pair = simulate(region.cube, facts, wald, case, seed=i)
        for method in methods:
            pred = method.predict(pair)
            m = score(
                pred.cube / case.gain, region.cube.data, facts.scale, region.cube.valid, region.band_mask
            )
            spatial, spectral = consistency_psnr(pred.cube, pair, region.band_mask)
            result.rows.append({
                "case": case.name, "scene": region.scene, "method": method.name,
                "psnr": m.psnr, "sam": m.sam, "ergas": m.ergas,
                "consistency_spatial": spatial, "consistency_spectral": spectral,
                "seconds": pred.ms / 1e3,
            })  # fmt: skip
            gate = getattr(getattr(getattr(method, "model", None), "fusion", None), "gate", None)
            if case.name == "nominal" and isinstance(method, TorchMethod) and gate is not None:
                weights = gate.last_gates.mean(dim=(0, 2, 3)).tolist()
                result.gates.append({"scene": region.scene, "method": method.name, "gates": weights})
    return result


def baselines(names: tuple[str, ...]) -> list[Method]:
    return [BaselineMethod(name=n, kind="baseline") for n in names]


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def to_markdown(title: str, result: GeneralisationResult, header: list[str]) -> str:
    """Per-scene nominal tables, the per-scene student margin, the robustness tables and the gates."""
    rows = result.rows
    methods = list(dict.fromkeys(r["method"] for r in rows))
    classical = [m for m in methods if m in ("bicubic", "gsa", "mtf_glp_hpm", "sfim", "cnmf")]
    out = [f"# {title}", "", *header, ""]
    nominal = [r for r in rows if r["case"] == "nominal"]
    cols = "| method | PSNR (dB) | SAM (deg) | ERGAS | consistency spatial (dB) | consistency spectral (dB) | s |"
    for scene in result.scenes:
        out += [f"## {scene}", "", cols, "|---|---|---|---|---|---|---|"]
        for r in (r for r in nominal if r["scene"] == scene):
            out.append(
                f"| {r['method']} | {r['psnr']:.2f} | {r['sam']:.2f} | {r['ergas']:.2f} | "
                f"{r['consistency_spatial']:.2f} | {r['consistency_spectral']:.2f} | {r['seconds']:.3f} |"
            )
        out.append("")
    nets = [m for m in methods if m not in classical]
    out += ["## Margin over the best classical method (nominal camera)", ""]
    out += ["| scene | best classical | " + " | ".join(f"{n} − best" for n in nets) + " |"]
    out += ["|---|---|" + "---|" * len(nets)]
    margins: dict[str, list[float]] = {n: [] for n in nets}
    for scene in result.scenes:
        here = {r["method"]: r for r in nominal if r["scene"] == scene}
        best = max(classical, key=lambda m: here[m]["psnr"])
        cells = []
        for n in nets:
            margins[n].append(here[n]["psnr"] - here[best]["psnr"])
            cells.append(f"{margins[n][-1]:+.2f}")
        out.append(f"| {scene} | {best} {here[best]['psnr']:.2f} | " + " | ".join(cells) + " |")
    out.append("| **mean** | | " + " | ".join(f"**{np.mean(margins[n]):+.2f}**" for n in nets) + " |")
    out.append("")
    out += ["## Robustness: mean PSNR over the scenes, camera described slightly wrong", ""]
    out += ["| case | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for case in dict.fromkeys(r["case"] for r in rows):
        cells = [
            f"{_mean([r for r in rows if r['case'] == case and r['method'] == m], 'psnr'):.2f}"
            for m in methods
        ]
        out.append(f"| {case} | " + " | ".join(cells) + " |")
    out.append("")
    cases = list(dict.fromkeys(r["case"] for r in rows))
    if len(cases) > 1:
        # the targets are per scene: a case can hold its mean and still lose a scene
        out += [
            "## Robustness: margin over the best classical method under the same case, mean (worst scene)",
            "",
        ]
        out += ["| case | " + " | ".join(f"{n} − best" for n in nets) + " |", "|---|" + "---|" * len(nets)]
        for case in cases:
            here = [r for r in rows if r["case"] == case]
            cells = []
            for n in nets:
                leads = []
                for scene in result.scenes:
                    by = {r["method"]: r["psnr"] for r in here if r["scene"] == scene}
                    leads.append(by[n] - max(by[m] for m in classical))
                cells.append(f"{np.mean(leads):+.2f} ({min(leads):+.2f})")
            out.append(f"| {case} | " + " | ".join(cells) + " |")
        out.append("")
    if result.gates:
        out += ["## Stream gates (mean weight per stream, nominal pairs)", ""]
        out += [
            "| scene | network | HSI | MSI | joint LR | joint HR (attended) |",
            "|---|---|---|---|---|---|",
        ]
        for g in result.gates:
            out.append(
                f"| {g['scene']} | {g['method']} | " + " | ".join(f"{w:.3f}" for w in g["gates"]) + " |"
            )
        out.append("")
    return "\n".join(out)
