"""The shifted-blur search judges blur and spectral response together (`physics.SHIFT_RESPONSE`): a camera
whose RGB responses are not the card's is not read as a shifted blur, and a real shift under that camera is
still found.

On a validation region of a scene the shipped CAVE-grid student trained on (no test scene is read), with the
HR-MSI made through a machine-vision camera's measured responses (Point Grey Grasshopper 50S5C).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import spectra_distill.models.physics as physics
from spectra_distill.data.splits import load_split
from spectra_distill.evaluate.generalisation import rgb_camera, simulate
from spectra_distill.evaluate.regions import ModelFacts, held_out_regions
from spectra_distill.evaluate.run import wald_config
from spectra_distill.export.model import load_checkpoint_model

WEIGHTS = Path(__file__).resolve().parents[3] / "models" / "student-cave31-rgb-x4.weights.pt"
CAMERA = rgb_camera("Point_Grey_Grasshopper_50S5C")
# where judging through the card's response cost 6.2 dB (results/distill/calibration/shift-response/)
REGION = "abu_airport_2/val#0"


@pytest.fixture(scope="module")
def student(data_root: Path):  # noqa: ANN201 (a tuple of library objects)
    model, ckpt = load_checkpoint_model(WEIGHTS, "student")
    facts = ModelFacts.from_card(ckpt["card"], str(WEIGHTS))
    spec = load_split(facts.split)
    regions = {r.key: r for r in held_out_regions(facts, data_root, spec, spec, "val")[0]}
    return model.eval(), facts, regions[REGION], wald_config(facts, data_root, 0)


def _taps(student, case, response: bool) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    model, facts, region, wald = student
    pair = simulate(region.cube, facts, wald, case, 0)
    lr = torch.from_numpy(pair.lrhsi.data[None]).float()
    msi = torch.from_numpy(pair.hrmsi.data[None]).float()
    gain = model.radiometry.scales(lr, msi)[1]
    deg = model.physics
    taps = deg.estimate_taps(lr, msi * gain, shift=True, response=response)[0]
    room = (deg.wide - deg.taps.numel()) // 2
    return taps, torch.nn.functional.pad(deg.taps, (room, room))


def test_another_cameras_response_keeps_the_centred_blur(student) -> None:  # noqa: ANN001
    judged_by_card, centred = _taps(student, CAMERA, response=False)
    # the failure this guards against: through the card's response the camera's mismatch reads as a blur
    assert (judged_by_card - centred).abs().max() > 1e-3
    assert physics.SHIFT_RESPONSE == "fitted"
    taps, centred = _taps(student, CAMERA, response=True)
    torch.testing.assert_close(taps, torch.stack([centred, centred]), rtol=0, atol=1e-6)


def test_a_real_shift_under_another_camera_is_found(student) -> None:  # noqa: ANN001
    # the same camera, the LR-HSI sampled at [::s]: its pixels sit 1.5 HR px up and left of the block middles
    case = dataclasses.replace(CAMERA, name="Point Grey, LR at [::s]", lr_phase=0.0)
    model = student[0]
    taps, _ = _taps(student, case, response=True)
    found = model.physics.shift_of(taps[None])[0].numpy()
    np.testing.assert_allclose(found, [-1.5, -1.5], atol=0.25)
