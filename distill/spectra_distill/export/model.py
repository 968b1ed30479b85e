"""`export_model`: ONNX + parity check + model card, from a model or from a training checkpoint."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from spectra_distill.data.atomic import atomic_path
from spectra_distill.errors import CheckpointError
from spectra_distill.export.card import CardFacts, build_card, write_card
from spectra_distill.export.onnx import (
    DEFAULT_OPSET,
    PARITY_CHECKS,
    STATS_NAME,
    ParityCheck,
    card_path_for,
    export_onnx,
    sha256_file,
    stats_path_for,
    verify_onnx,
)
from spectra_distill.models.complexity import per_pixel_complexity
from spectra_distill.models.factory import ROLES
from spectra_distill.models.net import FusionNet, FusionNetConfig
from spectra_distill.train.checkpoint import load_checkpoint

logger = logging.getLogger(__name__)

CHECKPOINT_KEYS = ("model_config", "card")


@dataclass(frozen=True)
class ExportResult:
    """What `export_model` wrote and measured.

    Attributes:
        onnx_path: The ONNX file.
        card_path: The model card next to it.
        parity: The PyTorch vs onnxruntime comparisons that passed.
        card: The card as written.
    """

    onnx_path: Path
    card_path: Path
    parity: list[ParityCheck]
    card: dict[str, Any]


def weights_path_for(onnx_path: str | Path) -> Path:
    """`models/x.onnx` -> `models/x.weights.pt`: the network's PyTorch weights, for adaptation on the host."""
    p = Path(onnx_path)
    return p.with_name(p.stem + ".weights.pt")


def write_weights(model: FusionNet, facts: CardFacts, role: str, path: Path) -> dict[str, Any]:
    """Save the weights as a checkpoint `load_checkpoint_model` reads (plain data: loads weights-only).

    Returns:
        The card's `weights` block: {file, sha256}.
    """
    state = {k: v.detach().to("cpu", torch.float32).clone() for k, v in model.state_dict().items()}
    blob = {"model_config": {role: model.config.to_dict()}, role: state, "card": asdict(facts)}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return {"file": path.name, "sha256": sha256_file(path)}


@dataclass(frozen=True)
class Provenance:
    """What a card says about where its weights came from.

    Attributes:
        training: The card's `training` block without datasets and split (which the card facts give).
        validation: The card's `validation` block, or None.
        preset: The preset the card names.
    """

    training: dict[str, Any]
    validation: dict[str, Any] | None
    preset: str


def provenance(path: str | Path, ckpt: dict[str, Any], role: str) -> Provenance:
    """The history of the network `role` of the checkpoint at `path` (loaded as `ckpt`).

    A training checkpoint holds its own (commands, steps, scores). A `<name>.weights.pt` that export wrote
    beside a model holds only weights; its history is the card beside it, trusted when that card names this
    very file (sha256), so a model re-exported from shipped weights keeps the commands that made them.
    """
    p = Path(path)
    if p.name.endswith(".weights.pt"):
        card_path = p.with_name(p.name.removesuffix(".weights.pt") + ".card.json")
        if card_path.is_file():
            card = json.loads(card_path.read_text())
            named = (card.get("weights") or {}).get("sha256")
            if named == sha256_file(p):
                training = {k: v for k, v in card["training"].items() if k not in ("datasets", "split")}
                return Provenance(training, card.get("validation"), str(card.get("preset", "custom")))
            # the history would be silently lost otherwise: the exported card would name only this command
            logger.warning(
                "%s names other weights (sha256 %s...) than %s: its training history and validation scores are "
                "not carried over; export from the weights that card names, or restore that card",
                card_path, str(named)[:12], p,
            )  # fmt: skip
    # co-training checkpoints keep the student's scores under `metrics`, the teacher's under `teacher_metrics`
    co_trained_teacher = role == "teacher" and "student" in ckpt["model_config"]
    metrics = ckpt.get("teacher_metrics") if co_trained_teacher else ckpt.get("metrics")
    training = {
        "checkpoint": p.name,
        "epochs": ckpt.get("epoch"),
        "steps": ckpt.get("step"),
        "command": " && ".join(ckpt.get("commands", [])) or None,
        "seconds": ckpt.get("seconds"),
    }
    validation = None
    if isinstance(metrics, dict) and metrics:
        validation = metrics if "per_dataset" in metrics else {"per_dataset": metrics}
    config = ckpt.get("config") or {}
    model = config.get("model")
    preset = (
        model["preset"]
        if isinstance(model, dict) and isinstance(model.get("preset"), str)
        else str(config.get("preset", "custom"))
    )
    return Provenance({k: v for k, v in training.items() if v is not None}, validation, preset)


def export_model(
    model: FusionNet,
    card_facts: CardFacts | dict[str, Any],
    out_path: str | Path,
    *,
    role: str = "student",
    preset: str = "custom",
    name: str | None = None,
    opset: int = DEFAULT_OPSET,
    training: dict[str, Any] | None = None,
    validation: dict[str, Any] | None = None,
    parity_checks: tuple[tuple[int, tuple[int, int]], ...] = PARITY_CHECKS,
    source: str | Path | None = None,
    created: str | None = None,
) -> ExportResult:
    """Export `model` to ONNX, verify it against PyTorch, and write `<stem>.card.json` beside it.

    The card facts are checked against the model before anything is written; the card is written only
    after the parity checks pass, so a card on disk always describes a verified model.

    Args:
        model: The network (any device or dtype; a float32 CPU copy is exported, the model is left as is).
        card_facts: Data facts (wavelengths, SRF, PSF, ...), see `CardFacts`.
        out_path: Target `.onnx` path.
        role: 'student' or 'teacher'.
        preset: Preset name recorded in the card.
        name: Model id; defaults to the file stem.
        opset: ONNX opset (>= 17).
        training: Extra facts for the card's `training` block (command, epochs, seconds, ...).
        validation: The card's `validation` block ({'per_dataset': {...}}).
        parity_checks: (batch, (h, w)) LR sizes at which onnxruntime must equal PyTorch within 1e-4.
        source: File the facts came from, named in errors.
        created: ISO-8601 UTC time for the card; defaults to now (fixtures pin it to stay reproducible).

    Raises:
        CheckpointError / BandCountError / WavelengthError / ScaleError: facts do not fit the model.
        ExportError: checker or parity failure.
    """
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; known: {', '.join(ROLES)}")
    if opset < 17:
        raise ValueError(f"opset must be >= 17; got {opset}")
    facts = card_facts if isinstance(card_facts, CardFacts) else CardFacts.from_dict(card_facts, source)
    facts.check_against(model.config, source)
    onnx_path = export_onnx(model, out_path, opset=opset)
    parity = verify_onnx(model, onnx_path, checks=parity_checks)
    complexity = per_pixel_complexity(model.config)
    stats_graph = stats_path_for(onnx_path)
    frame_statistics = (
        {
            "graph": stats_graph.name,
            "sha256": sha256_file(stats_graph),
            "input": STATS_NAME,
            "length": model.frame_statistics_length,
        }
        if model.frame_statistics_length
        else None
    )
    weights = write_weights(model, facts, role, weights_path_for(onnx_path))
    card = build_card(
        facts,
        model.config,
        name=name or onnx_path.stem,
        role=role,
        preset=preset,
        onnx_file=onnx_path.name,
        onnx_sha256=sha256_file(onnx_path),
        opset=opset,
        params=complexity.params,
        macs_per_hr_pixel=complexity.macs_per_hr_pixel,
        training=training,
        validation=validation,
        created=created,
        statistics=model.input_statistics(),
        frame_statistics=frame_statistics,
        weights=weights,
    )
    card_path = write_card(card, card_path_for(onnx_path))
    return ExportResult(onnx_path=onnx_path, card_path=card_path, parity=parity, card=card)


def load_checkpoint_model(path: str | Path, role: str) -> tuple[FusionNet, dict[str, Any]]:
    """Rebuild the teacher or student of a training checkpoint (see module docs of spectra_distill.train).

    Returns:
        The model with its weights loaded, and the whole checkpoint dict.

    Raises:
        CheckpointError: missing keys, or weights that do not fit the stored model config.
    """
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; known: {', '.join(ROLES)}")
    # weights-only loading; checkpoints from before plain-data saving fall back with a logged warning
    ckpt = load_checkpoint(path, required=(*CHECKPOINT_KEYS, role))
    if role not in ckpt["model_config"]:
        raise CheckpointError(f"checkpoint model_config lacks '{role}'", path)
    try:
        config = FusionNetConfig(**ckpt["model_config"][role])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"bad model_config['{role}']: {exc}", path) from exc
    model = FusionNet(config)
    try:
        model.load_state_dict(ckpt[role])
    except RuntimeError as exc:
        raise CheckpointError(f"{role} weights do not fit model_config['{role}']: {exc}", path) from exc
    return model, ckpt
