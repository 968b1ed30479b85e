"""Adaptation without ground truth: learns from the capture alone, keeps the original, refuses bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spectra_distill.degrade.psf import make_psf
from spectra_distill.models import create_model
from spectra_distill.train.adapt import AdaptConfig, adapt, sensor_of

B, b, S = 12, 3, 4
PHYSICS = {"lr_skip": True, "input_norm": True, "prior": "hpm", "consistency_steps": 2, "gate": "softmax"}


def _card() -> dict:
    srf = np.zeros((b, B))
    for j in range(b):
        srf[j, 3 * j : 3 * j + 3] = [0.25, 0.5, 0.25]
    return {
        "scale": S,
        "psf": {"kernel_size": 2 * S, "sigma": make_psf(S).sigma},
        "msi": {"srf": srf.tolist(), "bands": b},
    }


def _capture(card: dict, seed: int = 0, h: int = 64, w: int = 64) -> tuple[np.ndarray, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    abund = torch.nn.functional.interpolate(
        torch.rand(1, 3, h // 8, w // 8, generator=g), size=(h, w), mode="bilinear"
    ).softmax(1)
    hr = torch.einsum("nkhw,kb->nbhw", abund, torch.rand(3, B, generator=g) * 0.6 + 0.1) * (
        0.5 + torch.rand(1, 1, h, w, generator=g)
    )
    sensor = sensor_of(card)
    return sensor.degrade(hr)[0].numpy(), sensor.project(hr)[0].numpy()


def _model(card: dict):  # noqa: ANN202
    torch.manual_seed(0)
    model = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, **PHYSICS)
    model.set_degradation(torch.as_tensor(card["msi"]["srf"]), torch.as_tensor(make_psf(S).taps()))
    return model.eval()


def test_adapt_lowers_its_self_supervised_loss_and_leaves_the_original_alone() -> None:
    card = _card()
    model = _model(card)
    original = {k: v.clone() for k, v in model.state_dict().items()}
    lr, msi = _capture(card)
    tuned, report = adapt(model, card, lr, msi, AdaptConfig(steps=30, lr=1e-3, crop_lr=16), progress=False)
    assert report.loss_last < report.loss_first, report
    assert report.consistency_after["spatial"] > report.consistency_before["spatial"] - 0.5
    changed = [
        k
        for k, v in tuned.state_dict().items()
        if v.dtype.is_floating_point and not torch.equal(v, original[k])
    ]
    assert changed, "adaptation changed no weight"
    assert all(torch.equal(v, original[k]) for k, v in model.state_dict().items()), (
        "the original model was modified"
    )
    assert report.config["steps"] == 30 and report.seconds > 0


def test_adapt_refuses_mismatched_and_too_small_captures() -> None:
    card = _card()
    model = _model(card)
    lr, msi = _capture(card)
    with pytest.raises(ValueError, match="expected 64x64"):
        adapt(model, card, lr, msi[:, :-4], AdaptConfig(steps=1), progress=False)
    small_lr, small_msi = _capture(card, h=16, w=16)
    with pytest.raises(ValueError, match="too small to adapt on"):
        adapt(model, card, small_lr[:, :2, :2], small_msi[:, :8, :8], AdaptConfig(steps=1), progress=False)


def test_bands_the_capture_does_not_cover_are_left_out() -> None:
    card = _card()
    lr, msi = _capture(card)
    valid = np.ones(B, dtype=bool)
    valid[-2:] = False  # beyond the camera's range: zeros on the model grid, as the SDK fills them
    lr[~valid] = 0.0
    cfg = AdaptConfig(steps=2, lr=1e-3, crop_lr=16, max_seconds=0)
    _, masked = adapt(_model(card), card, lr, msi, cfg, progress=False, band_valid=valid)
    _, unmasked = adapt(_model(card), card, lr, msi, cfg, progress=False)
    # scored against all-zero bands (peak 0), the network's output there would swamp the measure
    assert masked.consistency_before["spatial"] > unmasked.consistency_before["spatial"] + 20, (
        masked,
        unmasked,
    )
    with pytest.raises(ValueError, match="band_valid must be 12 flags"):
        adapt(_model(card), card, lr, msi, cfg, progress=False, band_valid=np.zeros(B, dtype=bool))


def test_the_time_budget_stops_adaptation_early() -> None:
    card = _card()
    lr, msi = _capture(card)
    _, report = adapt(
        _model(card), card, lr, msi, AdaptConfig(steps=500, crop_lr=16, max_seconds=1e-9), progress=False
    )
    assert report.steps_done == 1
    assert report.config["max_seconds"] == 1e-9
