"""ModelFacts reads the same facts from a checkpoint's card and from the exported model card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spectra_distill.errors import DatasetError
from spectra_distill.evaluate import ModelFacts

MODELS = Path(__file__).resolve().parents[3] / "models"


@pytest.mark.parametrize("name", ["student-cave31-rgb-x4", "student-rs206-s2x4-x4"])
def test_exported_card_gives_the_training_grid(name: str) -> None:
    card = json.loads((MODELS / f"{name}.card.json").read_text())
    facts = ModelFacts.read_model_card(MODELS / f"{name}.card.json")
    np.testing.assert_array_equal(facts.wavelengths, card["hsi"]["wavelengths_nm"])
    assert facts.band_valid.tolist() == card["hsi"]["band_valid"]
    assert facts.msi_preset == card["msi"]["preset"] and facts.scale == card["scale"] == 4
    assert facts.msi_band_names == tuple(card["msi"]["band_names"])
    assert facts.psf_sigma == card["psf"]["sigma"] and facts.datasets == tuple(card["training"]["datasets"])


def test_a_card_without_training_datasets_is_named(tmp_path: Path) -> None:
    card = json.loads((MODELS / "student-cave31-rgb-x4.card.json").read_text())
    del card["training"]["datasets"]
    path = tmp_path / "bad.card.json"
    path.write_text(json.dumps(card))
    with pytest.raises(DatasetError, match="datasets") as err:
        ModelFacts.read_model_card(path)
    assert "bad.card.json" in str(err.value)
    path.write_text("{ truncated")
    with pytest.raises(DatasetError, match="cannot read"):
        ModelFacts.read_model_card(path)
