"""Score a checkpoint's networks (and exported variants) against the classical methods on unseen scenes.

The scenes are the split's test scenes of the model's group, declared before training; every scene is also
scored with the camera described slightly wrong (PSF width and shape, SRF shift, noise), the methods being
told the nominal camera. Example:
spectra-distill generalise --checkpoint runs/cave_phys/best.pt --onnx models/student-cave31-rgb-x4.onnx
Writes <out>/generalisation.json and <out>/generalisation.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
from pathlib import Path

from spectra_distill.baselines.methods import BASELINES
from spectra_distill.data import default_data_root
from spectra_distill.data.atomic import atomic_path
from spectra_distill.evaluate.generalisation import (
    CASES,
    baselines,
    cases_named,
    run_generalisation,
    to_markdown,
)
from spectra_distill.evaluate.methods import (
    FittedPsfTorchMethod,
    Method,
    PhysicsOnlyTorchMethod,
    RetargetedTorchMethod,
    TorchMethod,
    onnx_method,
    subspace_method,
)
from spectra_distill.evaluate.regions import ModelFacts
from spectra_distill.evaluate.run import EvalConfig, _models
from spectra_distill.log import output
from spectra_distill.train.checkpoint import load_checkpoint

logger = logging.getLogger(__name__)

DEFAULT_BASELINES = ["bicubic", "gsa", "mtf_glp_hpm", "cnmf"]


def _named(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(
            f"expected NAME=PATH, e.g. 'student (fp16)=models/x.fp16.onnx'; got {text!r}"
        )
    return name, Path(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="training checkpoint, e.g. runs/X/best.pt"
    )
    parser.add_argument(
        "--onnx",
        type=_named,
        action="append",
        default=[],
        help="NAME=PATH of an exported model scored through onnxruntime (repeatable)",
    )
    parser.add_argument("--data", type=Path, help="data root (default: ../shared/data or $SPECTRA_DATA)")
    parser.add_argument(
        "--baselines",
        nargs="*",
        choices=list(BASELINES),
        default=DEFAULT_BASELINES,
        help="classical methods to compare with",
    )
    parser.add_argument(
        "--cases",
        nargs="*",
        choices=[c.name for c in CASES],
        default=[c.name for c in CASES],
        help="camera cases (default: all)",
    )
    parser.add_argument(
        "--psf-estimated",
        action="store_true",
        help="also score the student with the blur each pair shows put in its graph: a Gaussian sigma "
        "and free symmetric taps (spectra retarget-psf, --shape gaussian|free)",
    )
    parser.add_argument(
        "--psf-estimate",
        action="store_true",
        help="the checkpoint's networks measure each pair's blur in their graph "
        "(FusionNetConfig.psf_estimate), as the students exported with calibrate --psf-estimate do",
    )
    parser.add_argument(
        "--srf-estimate",
        action="store_true",
        help="the checkpoint's networks fit each pair's SRF in their graph for the spectral back-projection "
        "(FusionNetConfig.srf_estimate), as the students exported with export --srf-estimate do",
    )
    parser.add_argument(
        "--shift-estimate",
        action="store_true",
        help="the checkpoint's networks also try a shifted blur in their per-frame PSF search "
        "(FusionNetConfig.shift_estimate), as the students exported with export --shift-estimate do",
    )
    parser.add_argument(
        "--msi-denoise",
        action="store_true",
        help="the checkpoint's networks shrink the HR-MSI's noisy detail in their graph "
        "(FusionNetConfig.msi_denoise), as the students exported with export --msi-denoise do",
    )
    parser.add_argument(
        "--subspace",
        action="store_true",
        help="also score each --onnx model with its output projected onto the LR-HSI's signal subspace "
        "(spectra fuse --denoise subspace)",
    )
    parser.add_argument(
        "--denoise-auto",
        action="store_true",
        help="also score each --onnx model as spectra fuse runs it by default (--denoise auto: projected "
        "onto the signal subspace only when the LR-HSI reads below 40 dB SNR)",
    )
    parser.add_argument(
        "--physics-only",
        action="store_true",
        help="also score the student's in-graph physics alone (its learnt detail set to zero): what the "
        "network adds over the HPM prior and the back-projections",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="timed runs of every method per pair; the table's seconds are their median (speed tables)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--title", default="Generalisation", help="report title")


def _physics_student(methods: list[Method], refusal: str) -> TorchMethod:
    """The checkpoint's student, when it has physics in its graph; else exit with `refusal`."""
    student = next((m for m in methods if m.name == "student"), None)
    if not isinstance(student, TorchMethod) or student.model is None or student.model.physics is None:
        raise SystemExit(refusal)
    return student


def run(args: argparse.Namespace) -> int:
    root = (args.data or default_data_root()).resolve()
    ckpt = load_checkpoint(args.checkpoint, required=("card", "model_config"))
    facts = ModelFacts.from_card(ckpt["card"], args.checkpoint)
    cfg = EvalConfig(checkpoint=args.checkpoint, out=args.out, data=root, device="cpu")
    methods = _models(cfg, facts)
    physics = (
        ("--psf-estimate", "psf_estimate"),
        ("--srf-estimate", "srf_estimate"),
        ("--shift-estimate", "shift_estimate"),
        ("--msi-denoise", "msi_denoise"),
    )
    for flag, option in ((f, o) for f, o in physics if getattr(args, o)):
        for method in methods:
            if not isinstance(method, TorchMethod) or method.model is None or method.model.radiometry is None:
                raise SystemExit(f"{flag}: the checkpoint's {method.name} measures nothing per frame")
            try:
                method.model = method.model.with_physics(**{option: True}).to(method.device).eval()
            except ValueError as exc:
                raise SystemExit(f"{flag}: {exc}") from exc
    if args.psf_estimated:
        student = _physics_student(
            methods, "--psf-estimated needs a checkpoint whose student has the PSF in its graph"
        )
        for cls, name in (
            (RetargetedTorchMethod, "student (PSF estimated)"),
            (FittedPsfTorchMethod, "student (PSF fitted)"),
        ):
            methods.append(
                cls(
                    name=name,
                    kind="network",
                    params=student.params,
                    macs_per_hr_pixel=student.macs_per_hr_pixel,
                    model=student.model,
                    device=student.device,
                )
            )
    if args.physics_only:
        student = _physics_student(
            methods, "--physics-only needs a checkpoint whose student has physics in its graph"
        )
        methods.append(
            PhysicsOnlyTorchMethod(
                name="physics only (no learnt detail)", kind="network", params=0, model=student.model,
                device=student.device,
            )
        )  # fmt: skip
    for name, path in args.onnx:
        method = onnx_method(path, facts, "cpu")
        method.name = name
        methods.append(method)
        if args.subspace:
            methods.append(subspace_method(method, facts))
        if args.denoise_auto:
            methods.append(subspace_method(method, facts, auto=True))
    methods += baselines(tuple(args.baselines))
    if args.repeat < 1:
        raise SystemExit(f"--repeat must be at least 1; got {args.repeat}")
    for method in methods:
        method.repeats = args.repeat
    cases = cases_named(args.cases)
    foreign = [c.name for c in cases if c.msi_of not in (None, facts.msi_preset)]
    if foreign and len(args.cases) != len(CASES):
        raise SystemExit(
            f"--cases {', '.join(foreign)}: cameras of another kind of HR-MSI; "
            f"this model's is {facts.msi_preset!r}"
        )
    cases = tuple(c for c in cases if c.name not in foreign)
    result = run_generalisation(facts, methods, root, cases)
    command = shlex.join(
        ["spectra-distill", "generalise", "--checkpoint", str(args.checkpoint)]
        + [f"--onnx={n}={p}" for n, p in args.onnx]
        + (["--psf-estimate"] if args.psf_estimate else [])
        + (["--srf-estimate"] if args.srf_estimate else [])
        + (["--shift-estimate"] if args.shift_estimate else [])
        + (["--msi-denoise"] if args.msi_denoise else [])
        + (["--psf-estimated"] if args.psf_estimated else [])
        + (["--subspace"] if args.subspace else [])
        + (["--denoise-auto"] if args.denoise_auto else [])
        + (["--physics-only"] if args.physics_only else [])
        + (["--baselines", *args.baselines] if args.baselines != DEFAULT_BASELINES else [])
        + (["--cases", *args.cases] if len(args.cases) != len(CASES) else [])
        + (["--repeat", str(args.repeat)] if args.repeat != 1 else [])
        + ["--out", str(args.out)]
    )
    timing = f"the median of {args.repeat} runs" if args.repeat > 1 else "one run"
    header = [
        f"Regenerate: `{command}`",
        "",
        f"Model: {facts.wavelengths.size} bands, HR-MSI `{facts.msi_preset}`, x{facts.scale}; trained on "
        f"{', '.join(facts.datasets)} (split `{facts.split}`, step {ckpt.get('step')}). Scenes: the split's test "
        "scenes of the model's group, declared before training, used for no training and no choice. Clean Wald "
        "pairs except in the robustness cases, where the true camera differs from the nominal one every method "
        "is given. PSNR peak = per-band max; consistency = the output re-degraded (PSF, decimation) against the "
        "LR-HSI and projected (SRF) against the HR-MSI; s = wall seconds of one fusion on this 2-core CPU "
        f"(1 thread for torch; {timing}).",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    md = to_markdown(args.title, result, header)
    for path, text in (
        (args.out / "generalisation.md", md),
        (
            args.out / "generalisation.json",
            json.dumps({"rows": result.rows, "gates": result.gates}, indent=1),
        ),
    ):
        with atomic_path(path) as tmp:
            tmp.write_text(text + "\n")
    output(md)
    logger.info("wrote %s", args.out / "generalisation.md")
    return 0
