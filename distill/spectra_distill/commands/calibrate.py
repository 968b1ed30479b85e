"""Choose how much of a network's learnt detail to keep, on validation regions, then export it (ONNX + card).

The network's output moves exactly along the line from its in-graph physics alone (gain 0) to the network as
trained (gain 1) as its head's output is scaled (`spectra_distill/evaluate/calibration.py`); every gain is
scored on the split's validation regions of the trained scenes, never on a test scene, and the chosen gain is
baked into the head's last conv: the graph, its size and its speed are unchanged. The network as trained is
kept unless another gain beats it by --margin-db on the mean validation PSNR, so noise in a few regions does
not rewrite a model.

Examples:
  spectra-distill calibrate --checkpoint runs/rs_phys/best.pt --out models/student-rs206-s2x4-x4.onnx
  spectra-distill calibrate --checkpoint models/student-rs206-s2x4-x4.weights.pt \\
      --out models/student-rs206-s2x4-x4.onnx --report results/distill/calibration/rs206
  spectra-distill calibrate --checkpoint runs/rs_phys/best.pt --prior hpm_regression --out ...
Writes the model (as export does; the card's training block records the sweep under `detail_gain` and the
command), and <report>/calibration.json and calibration.md.

--prior puts another in-graph prior under the network first (the priors hold no weights): the gain is then
what the learnt part, trained on its own prior, is worth on top of the new one. --psf-estimate likewise makes
the statistics graph measure the blur of each frame (`FusionNetConfig.psf_estimate`) before the gain is
chosen, and --srf-estimate fit the SRF of each frame for the spectral back-projection
(`FusionNetConfig.srf_estimate`).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from spectra_distill.commands import add_network_arguments
from spectra_distill.data import default_data_root
from spectra_distill.data.atomic import atomic_path
from spectra_distill.data.splits import load_split
from spectra_distill.evaluate.calibration import gain_grid, sweep_detail_gain
from spectra_distill.evaluate.regions import ModelFacts
from spectra_distill.export.model import export_model, load_checkpoint_model, provenance
from spectra_distill.log import output
from spectra_distill.models.net import PRIORS

logger = logging.getLogger(__name__)

DEFAULT_GAINS = (0.0, 1.5, 0.05)
DEFAULT_MARGIN_DB = 0.05


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser, "calibrate")
    parser.add_argument(
        "--out", type=Path, required=True, help="calibrated model .onnx (card written beside)"
    )
    parser.add_argument(
        "--gains",
        type=float,
        nargs=3,
        metavar=("START", "STOP", "STEP"),
        default=DEFAULT_GAINS,
        help="gains tried (default: 0 to 1.5 by 0.05; 1 is always tried)",
    )
    parser.add_argument(
        "--margin-db",
        type=float,
        default=DEFAULT_MARGIN_DB,
        help="keep the network as trained unless a gain beats it by this much mean validation PSNR",
    )
    parser.add_argument(
        "--prior",
        choices=PRIORS,
        help="replace the network's in-graph prior before choosing the gain (default: keep it)",
    )
    parser.add_argument(
        "--psf-estimate",
        action="store_true",
        help="measure each frame's blur in the statistics graph (the card's PSF or a 0.5-4 px Gaussian) "
        "before choosing the gain",
    )
    parser.add_argument(
        "--srf-estimate",
        action="store_true",
        help="fit each frame's SRF in the statistics graph for the spectral back-projection (the card's, "
        "corrected by a noise-weighted ridge regression) before choosing the gain",
    )
    parser.add_argument("--data", type=Path, help="data root (default: ../shared/data or $SPECTRA_DATA)")
    parser.add_argument(
        "--report",
        type=Path,
        help="folder for calibration.json and .md (default: results/distill/calibration/<out stem>)",
    )


def run(args: argparse.Namespace) -> int:
    if args.margin_db < 0:
        raise SystemExit(f"--margin-db must be >= 0; got {args.margin_db}")
    try:
        gains = tuple(sorted({*gain_grid(*args.gains), 1.0}))
    except ValueError as exc:
        raise SystemExit(f"--gains: {exc}") from exc
    model, ckpt = load_checkpoint_model(args.checkpoint, args.role)
    model.eval()
    history = provenance(args.checkpoint, ckpt, args.role)
    if "detail_gain" in history.training:
        raise SystemExit(
            f"{args.checkpoint}: its detail gain was already calibrated "
            f"({history.training['detail_gain']['gain']}); calibrate the weights as trained (the training "
            "checkpoint, or the model exported from it without calibrate)"
        )
    trained_prior = model.config.prior
    trained_psf = model.config.psf_estimate
    trained_srf = model.config.srf_estimate
    changed = (args.prior and args.prior != trained_prior) or (args.psf_estimate and not trained_psf)
    if changed or (args.srf_estimate and not trained_srf):
        asked = ((f"--prior {args.prior}", args.prior), ("--psf-estimate", args.psf_estimate))
        flag = " ".join(f for f, on in (*asked, ("--srf-estimate", args.srf_estimate)) if on)
        try:
            model = model.with_physics(
                prior=args.prior,
                psf_estimate=args.psf_estimate or None,
                srf_estimate=args.srf_estimate or None,
            ).eval()
        except ValueError as exc:
            raise SystemExit(f"{flag}: {exc}") from exc
    facts = ModelFacts.from_card(ckpt["card"], args.checkpoint)
    root = (args.data or default_data_root()).resolve()
    sweep = sweep_detail_gain(model, facts, root, load_split(facts.split), gains)
    means = dict(zip(sweep.gains, sweep.psnr.mean(axis=1), strict=True))
    gain = sweep.chosen if means[sweep.chosen] - means[1.0] >= args.margin_db else 1.0
    model.head.scale_detail(gain)
    command = args.invocation
    record = {
        **sweep.as_dict(),
        "gain": gain,
        "best_on_validation": sweep.chosen,
        "margin_db": args.margin_db,
        "validation_psnr_gain_db": round(float(means[gain] - means[1.0]), 4),
    }
    if model.config.prior != trained_prior:
        record["prior"] = {"trained_with": trained_prior, "replaced_by": model.config.prior}
    if model.config.psf_estimate != trained_psf:
        record["psf_estimate"] = {"trained_with": trained_psf, "replaced_by": model.config.psf_estimate}
    if model.config.srf_estimate != trained_srf:
        record["srf_estimate"] = {"trained_with": trained_srf, "replaced_by": model.config.srf_estimate}
    training = dict(history.training)
    training["command"] = " && ".join(c for c in (training.get("command"), command) if c)
    training["detail_gain"] = {k: v for k, v in record.items() if k != "regions"}
    result = export_model(
        model,
        ckpt["card"],
        args.out,
        role=args.role,
        preset=history.preset,
        training=training,
        validation=history.validation,
        source=args.checkpoint,
    )
    report = args.report or Path("results/distill/calibration") / args.out.stem
    report.mkdir(parents=True, exist_ok=True)
    with atomic_path(report / "calibration.json") as tmp:
        tmp.write_text(json.dumps({"command": command, **record}, indent=2) + "\n")
    with atomic_path(report / "calibration.md") as tmp:
        title = f"Detail gain of {args.out.stem}"
        if "prior" in record:
            title += f" on the {model.config.prior} prior (trained on {trained_prior})"
        if "psf_estimate" in record:
            title += ", each frame's blur measured in the graph"
        if "srf_estimate" in record:
            title += ", each frame's SRF fitted in the graph"
        tmp.write_text(sweep.to_markdown(title, command, gain))
    output(
        f"detail gain {gain:g} (validation PSNR {means[gain]:.3f} dB; as trained {means[1.0]:.3f} dB); "
        f"wrote {result.onnx_path}, {result.card_path} and {report / 'calibration.md'}"
    )
    return 0
