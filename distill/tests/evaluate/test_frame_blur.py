"""The blur a network's statistics graph finds on a pair, read as the SDK reads it, and degraded with as the
SDK degrades: what `--denoise` guides the LR-HSI with when the pair sits off the card's convention."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from spectra_distill.data.splits import load_split
from spectra_distill.degrade.psf import GaussianPSF, separable_degrade, spatial_degrade
from spectra_distill.evaluate.generalisation import cases_named, simulate
from spectra_distill.evaluate.methods import onnx_method, torch_method
from spectra_distill.evaluate.regions import ModelFacts, held_out_regions
from spectra_distill.evaluate.run import wald_config
from spectra_distill.export.model import load_checkpoint_model

MODELS = Path(__file__).resolve().parents[3] / "models"
STEM = "student-cave31-rgb-x4"


def test_separable_degrade_is_spatial_degrade_with_equal_taps() -> None:
    hr = np.random.default_rng(0).random((3, 32, 48)).astype(np.float32)
    psf = GaussianPSF(8, 2.0)
    expected = spatial_degrade(hr, 4, psf)
    np.testing.assert_array_equal(separable_degrade(hr, 4, psf.taps(), psf.taps()), expected)
    with pytest.raises(ValueError, match="one length of the scale's parity"):
        separable_degrade(hr, 4, psf.taps(), psf.taps()[:-1])


def test_separable_degrade_is_the_graphs_shifted_blur() -> None:
    model, _ = load_checkpoint_model(MODELS / f"{STEM}.weights.pt", "student")
    deg = model.physics
    rng = np.random.default_rng(1)
    taps = rng.random((2, deg.wide)).astype(np.float32)
    taps /= taps.sum(axis=1, keepdims=True)
    hr = rng.random((1, 3, 32, 32)).astype(np.float32)
    graph = deg.degrade(torch.from_numpy(hr), torch.from_numpy(taps[None]))[0].numpy()
    np.testing.assert_allclose(separable_degrade(hr[0], 4, *taps), graph, atol=1e-6)


@pytest.fixture(scope="module")
def shifted_pair(data_root: Path):  # noqa: ANN201 (a FusionPair and the model's facts)
    model, ckpt = load_checkpoint_model(MODELS / f"{STEM}.weights.pt", "student")
    facts = ModelFacts.from_card(ckpt["card"], str(MODELS))
    spec = load_split(facts.split)
    region = held_out_regions(facts, data_root, spec, spec, "val")[0][0]
    case = dataclasses.replace(cases_named(["LR sampled at [::s]"])[0], snr_db=30.0, noise_on="lrhsi")
    return model.eval(), facts, simulate(region.cube, facts, wald_config(facts, data_root, 0), case, 0)


def test_the_onnx_statistics_give_the_blur_the_network_chose(shifted_pair) -> None:  # noqa: ANN001
    model, facts, pair = shifted_pair
    from_torch = torch_method("student", model, "cpu").frame_blur(pair)
    from_onnx = onnx_method(MODELS / f"{STEM}.onnx", facts, "cpu").frame_blur(pair)
    assert from_torch is not None and from_onnx is not None and from_onnx.shape == (2, model.physics.wide)
    np.testing.assert_allclose(from_onnx, from_torch, atol=1e-4)
    # the pair's LR pixels sit 1.5 HR px up and left of the block middles
    centroid = (from_onnx * (np.arange(from_onnx.shape[1]) - (from_onnx.shape[1] - 1) / 2)).sum(axis=1)
    np.testing.assert_allclose(centroid, [-1.5, -1.5], atol=0.3)
    # a network without the shift search finds nothing to guide with but the card's PSF
    plain = torch_method("student", model.with_physics(shift_estimate=False).eval(), "cpu")
    assert plain.frame_blur(pair) is None


def test_fitted_blur_reads_the_taps_before_the_fitted_srf_and_the_detail_gains() -> None:
    from spectra_distill.export.frame_layout import fitted_blur

    card = {
        "psf": {"per_frame": {"shift_taps": 3}},
        "hsi": {"bands": 4},
        "msi": {"bands": 2, "per_frame": {}, "denoise": {"detail_sigmas_px": [1.0, 2.0]}},
    }
    taps = np.arange(6, dtype=float) + 1
    frame = np.concatenate([np.zeros(5), taps, np.full(2 * 4, -1.0), np.full(2 * 2, -2.0)])
    np.testing.assert_array_equal(fitted_blur(frame, card), taps.reshape(2, 3))
    # without the fitted SRF and the gains the taps end the vector
    bare = {**card, "msi": {"bands": 2}}
    np.testing.assert_array_equal(fitted_blur(np.concatenate([np.zeros(5), taps]), bare), taps.reshape(2, 3))
    assert fitted_blur(frame, {**card, "psf": {"type": "gaussian"}}) is None
