"""The shipped cards describe the committed files and say how the weights were made."""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import pytest

MODELS = Path(__file__).resolve().parents[3] / "models"
CARDS = sorted(MODELS.glob("*.card.json"))


@pytest.mark.parametrize("card_path", CARDS, ids=[p.name for p in CARDS])
def test_card_matches_its_onnx_and_names_its_training_commands(card_path: Path) -> None:
    card = json.loads(card_path.read_text())
    onnx = card_path.parent / card["onnx"]
    assert hashlib.sha256(onnx.read_bytes()).hexdigest() == card["onnx_sha256"]
    commands = card["training"]["command"].split(" && ")
    for command in commands:
        argv = shlex.split(command)
        assert argv[:2] == ["spectra-distill", "train"], command
    # the last command wrote the exported checkpoint's run directory
    last = shlex.split(commands[-1])
    assert "--run-dir" in last and last[last.index("--run-dir") + 1].startswith("runs/")
