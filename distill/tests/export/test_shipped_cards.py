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
    commands = [shlex.split(c) for c in card["training"]["command"].split(" && ")]
    # training runs, then what was done to the trained weights before export (calibrate: the detail gain;
    # export --srf-estimate: weightless physics put under them)
    steps = [argv[1] for argv in commands]
    trains = steps.count("train")
    assert trains >= 1 and steps[:trains] == ["train"] * trains, steps
    assert set(steps[trains:]) <= {"calibrate", "export"}, steps
    assert all(argv[0] == "spectra-distill" for argv in commands)
    # the last training command wrote the exported checkpoint's run directory
    last = commands[trains - 1]
    assert "--run-dir" in last and last[last.index("--run-dir") + 1].startswith("runs/")
    if "calibrate" in steps:
        gain = card["training"]["detail_gain"]["gain"]
        assert gain in [row["gain"] for row in card["training"]["detail_gain"]["sweep"]]
