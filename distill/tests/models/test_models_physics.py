"""The in-graph physics: degradation matches the Wald protocol, HPM prior, consistency, radiometry invariance."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import spectra_distill.models.physics as physics
from spectra_distill.degrade.psf import make_psf, spatial_degrade
from spectra_distill.models import create_model
from spectra_distill.models.physics import (
    HPM_RATIO_CAP,
    Degradation,
    consistency,
    fit_srf,
    hpm_prior,
    regression_pan,
    regression_prior,
    solve_spd,
    spd_inverse_solve,
)

B, b, S = 12, 3, 4
PHYSICS = {"lr_skip": True, "input_norm": True, "prior": "hpm", "consistency_steps": 2, "gate": "softmax"}
# (prior, psf_estimate, srf_estimate, shift_estimate, msi_denoise): the in-graph physics variants every
# graph-level property must hold for
VARIANTS = [
    ("hpm", False, False, False, False),
    ("hpm_regression", False, False, False, False),
    ("hpm_regression", True, False, False, False),
    ("hpm_regression", True, True, False, False),
    ("hpm_regression", True, True, True, False),
    ("hpm_regression", True, True, True, True),
]
VARIANT_IDS = [
    "hpm", "regression", "regression+psf", "regression+psf+srf", "regression+psf+srf+shift",
    "regression+psf+srf+shift+msi-denoise",
]  # fmt: skip
OPTIONS = ("prior", "psf_estimate", "srf_estimate", "shift_estimate", "msi_denoise")


def _srf() -> torch.Tensor:
    # three MSI bands over the first nine HSI bands; the last three lie outside every SRF (like SWIR under S2)
    srf = torch.zeros(b, B)
    for j in range(b):
        srf[j, 3 * j : 3 * j + 3] = torch.tensor([0.25, 0.5, 0.25])
    return srf


def _degradation() -> Degradation:
    deg = Degradation(B, b, S, 2 * S)
    deg.set(_srf(), torch.as_tensor(make_psf(S).taps()))
    return deg


def _scene(seed: int = 0, h: int = 32, w: int = 40) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # smooth mixtures of three spectra under fine shading: the detail every band shares, which HPM recovers
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8, w // 8, generator=g)
    abund = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear").softmax(dim=1)
    shading = 0.5 + torch.rand(1, 1, h, w, generator=g)
    spectra = torch.rand(3, B, generator=g) * 0.6 + 0.1
    hr = torch.einsum("nkhw,kb->nbhw", abund, spectra) * shading
    deg = _degradation()
    return hr, deg.degrade(hr), deg.project(hr)


def test_degrade_matches_the_wald_protocol() -> None:
    hr, lr, _ = _scene()
    expected = spatial_degrade(hr[0].double().numpy(), S, make_psf(S))
    np.testing.assert_allclose(lr[0].numpy(), expected, atol=1e-5)


@pytest.mark.parametrize(("scale", "kernel"), [(4, 8), (3, 7), (2, 2), (2, 8), (4, 2)])
@pytest.mark.parametrize("shifted", [False, True], ids=["symmetric taps", "shifted blur"])
@pytest.mark.parametrize("lr_size", [(6, 7), (37, 18)], ids=["one block", "blocks and a partial one"])
def test_per_image_taps_blur_each_image_with_its_own_kernel(
    scale: int, kernel: int, shifted: bool, lr_size: tuple[int, int]
) -> None:
    # against a plain strided 2-D conv per image in the reflect frame (a crop where the taps are narrower than
    # the scale) of the Wald protocol; a shifted blur's row and column taps differ and are off-centre. 37 LR
    # rows make blocks of DEGRADE_BLOCK rows and a partial last one, whose window runs past the frame.
    g = torch.Generator().manual_seed(kernel)
    deg = Degradation(B, b, scale, kernel)
    k = deg.wide if shifted else kernel
    hr = torch.rand(2, 5, lr_size[0] * scale, lr_size[1] * scale, generator=g)
    rows = torch.rand(2, k, generator=g)
    cols = torch.randn(2, k, generator=g) if shifted else rows
    out = deg.degrade(hr, torch.stack([rows, cols], dim=1) if shifted else rows)
    pad = (k - scale) // 2
    for i in range(2):
        framed = torch.nn.functional.pad(hr[i : i + 1], (pad,) * 4, mode="reflect") if pad else hr[i : i + 1]
        kernel2d = torch.outer(rows[i], cols[i])[None, None].expand(5, 1, -1, -1)
        expected = torch.nn.functional.conv2d(framed, kernel2d, stride=scale, groups=5)
        # float32 sums of up to ~150 signed products of order 1, in another order than the conv's
        torch.testing.assert_close(out[i : i + 1], expected, rtol=1e-5, atol=1e-5)


def test_set_rejects_wrong_shapes_and_empty_rows() -> None:
    deg = Degradation(B, b, S, 2 * S)
    with pytest.raises(ValueError, match="srf: expected shape"):
        deg.set(torch.ones(b + 1, B), torch.ones(2 * S))
    with pytest.raises(ValueError, match="psf taps"):
        deg.set(_srf(), torch.ones(S))
    empty = _srf()
    empty[1] = 0
    with pytest.raises(ValueError, match="every SRF row"):
        deg.set(empty, torch.ones(2 * S))


def test_hpm_prior_without_msi_detail_is_the_bicubic_lrhsi() -> None:
    deg = _degradation()
    _, lr, _ = _scene()
    flat_msi = torch.full((1, b, lr.shape[-2] * S, lr.shape[-1] * S), 0.3)
    torch.testing.assert_close(hpm_prior(deg, lr, flat_msi), deg.upsample(lr), atol=1e-5, rtol=1e-5)


def test_hpm_prior_sharpens_bands_inside_and_outside_the_srf() -> None:
    deg = _degradation()
    hr, lr, msi = _scene()
    prior = hpm_prior(deg, lr, msi)
    err_prior = (prior - hr).pow(2).mean(dim=(0, 2, 3))
    err_up = (deg.upsample(lr) - hr).pow(2).mean(dim=(0, 2, 3))
    # bands 9..11 get their detail from the best-correlated MSI band, the others from their SRF's band
    assert (err_prior < err_up).all()


def test_solve_spd_solves_small_systems() -> None:
    g = torch.Generator().manual_seed(4)
    a = torch.randn(3, 5, 5, generator=g, dtype=torch.float64)
    gram = a @ a.transpose(1, 2) + 0.1 * torch.eye(5, dtype=torch.float64)
    rhs = torch.randn(3, 5, 7, generator=g, dtype=torch.float64)
    torch.testing.assert_close(solve_spd(gram, rhs), torch.linalg.solve(gram, rhs), rtol=1e-9, atol=1e-9)


def test_regression_pan_recovers_a_linear_band_and_is_scale_invariant() -> None:
    g = torch.Generator().manual_seed(5)
    lr_msi = torch.rand(2, b, 10, 12, generator=g)
    weights = torch.tensor([[0.7, -0.2, 0.4], [0.0, 1.5, 0.0]]).expand(2, 2, b)
    bias = torch.tensor([0.05, -0.1])
    lrhsi = torch.einsum("nbj,njhw->nbhw", weights, lr_msi) + bias[None, :, None, None]
    w, c = regression_pan(lrhsi, lr_msi)
    torch.testing.assert_close(w, weights, rtol=0, atol=2e-2)  # the ridge shrinks them a little
    torch.testing.assert_close(c[..., 0, 0], bias.expand(2, 2), rtol=0, atol=2e-2)
    w_k, c_k = regression_pan(lrhsi * 1e3, lr_msi * 1e3)
    torch.testing.assert_close(w_k, w, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(c_k / 1e3, c, rtol=1e-4, atol=1e-6)


def test_regression_prior_sharpens_a_band_no_single_msi_band_explains() -> None:
    # an HSI band outside every SRF that is the difference of two MSI bands' patterns: the assigned band (the
    # best single correlate) carries the wrong detail, a fitted pan carries it exactly
    deg = _degradation()
    g = torch.Generator().manual_seed(6)
    coarse = torch.rand(1, 2, 6, 8, generator=g)
    parts = torch.nn.functional.interpolate(coarse, size=(48, 64), mode="bilinear")
    parts = parts * (0.6 + 0.8 * torch.rand(1, 2, 48, 64, generator=g))
    spectra = torch.rand(2, B, generator=g) * 0.3 + 0.2
    spectra[:, 9:] = torch.tensor([[0.9], [0.1]])  # outside the SRFs: one material bright, the other dark
    hr = torch.einsum("nkhw,kb->nbhw", parts, spectra) + 0.05
    lr, msi = deg.degrade(hr), deg.project(hr)
    weights, bias = regression_pan(lr, deg.degrade(msi))
    offset = 0.01 * lr.abs().mean(dim=(-2, -1), keepdim=True)
    fitted = regression_prior(deg, lr, msi, weights, bias, offset)
    assigned = hpm_prior(deg, lr, msi)
    inner = (..., slice(8, -8), slice(8, -8))

    def err(x: torch.Tensor) -> float:
        return (x - hr)[:, 9:][inner].abs().mean().item()

    assert err(fitted) < 0.5 * err(assigned), (err(fitted), err(assigned))


def test_regression_prior_ratio_is_capped_where_the_low_pass_is_dark() -> None:
    # one bright HR-MSI pixel in a dark field: the pan's low-pass there is a fraction of the pixel, so the
    # uncapped ratio would be tens (97 on an unseen scene); the cap bounds the prior at cap * up(X)
    deg = _degradation()
    lr = torch.full((1, B, 6, 6), 0.02)
    msi = torch.zeros(1, b, 24, 24)
    msi[0, 0, 13, 13] = 1.0
    weights = torch.zeros(1, B, b)
    weights[..., 0] = 1.0
    offset = torch.full((1, B, 1, 1), 1e-3)
    prior = regression_prior(deg, lr, msi, weights, torch.zeros(1, B, 1, 1), offset)
    ratio = prior / deg.upsample(lr)
    assert ratio.max().item() == pytest.approx(HPM_RATIO_CAP, rel=1e-5)
    assert ratio.min().item() > 0


def test_with_physics_keeps_the_learnt_part() -> None:
    model = _tiny_physics()
    other = model.with_physics(prior="hpm_regression", psf_estimate=True)
    assert other.config.prior == "hpm_regression" and other.config.psf_estimate and not other.training
    for (name, p), (name2, q) in zip(model.state_dict().items(), other.state_dict().items(), strict=True):
        assert name == name2 and torch.equal(p, q)
    assert other.with_physics(psf_estimate=False).config.prior == "hpm_regression"
    with pytest.raises(ValueError, match="Unknown prior"):
        model.with_physics(prior="wavelet")


def test_consistency_steps_approach_both_measurements() -> None:
    deg = _degradation()
    hr, lr, msi = _scene()
    start = deg.upsample(lr)
    residuals = []
    for steps in (0, 1, 4):
        out = consistency(deg, start, lr, msi, steps)
        residuals.append(
            ((deg.project(out) - msi).pow(2).mean() + (deg.degrade(out) - lr).pow(2).mean()).item()
        )
    assert residuals[1] < 0.2 * residuals[0] and residuals[2] < residuals[1]


@pytest.mark.parametrize(OPTIONS, VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("role", ["teacher", "student"])
def test_output_scales_with_the_inputs(
    role: str, prior: str, psf_estimate: bool, srf_estimate: bool, shift_estimate: bool, msi_denoise: bool
) -> None:
    torch.manual_seed(3)
    physics = {
        **PHYSICS, "prior": prior, "psf_estimate": psf_estimate, "srf_estimate": srf_estimate,
        "shift_estimate": shift_estimate, "msi_denoise": msi_denoise,
    }  # fmt: skip
    model = create_model(role, "test_tiny", hsi_bands=B, msi_bands=b, scale=S, border_pad=1, **physics).eval()
    model.set_degradation(_srf(), torch.as_tensor(make_psf(S).taps()))
    _, lr, msi = _scene(1, 24, 32)
    with torch.no_grad():
        ref = model(lr, msi).cube
        for k in (1e-3, 0.37, 8.0, 1e3):
            out = model(lr * k, msi * k).cube
            assert ((out / k - ref).abs().max() / ref.abs().max()).item() <= 1e-4, k


@pytest.mark.parametrize(OPTIONS, VARIANTS, ids=VARIANT_IDS)
def test_exported_onnx_output_scales_with_the_inputs(
    tmp_path: Path,
    prior: str,
    psf_estimate: bool,
    srf_estimate: bool,
    shift_estimate: bool,
    msi_denoise: bool,
) -> None:
    # the same property through onnxruntime: the radiometry lives in the graph, not in the PyTorch wrapper
    from spectra_distill.export.onnx import OnnxFusion, export_onnx

    model = _tiny_physics(prior, psf_estimate, srf_estimate, shift_estimate, msi_denoise)
    runner = OnnxFusion(export_onnx(model, tmp_path / "physics.onnx"))
    _, lr, msi = _scene(1, 24, 32)
    lr_np, msi_np = lr.numpy(), msi.numpy()
    ref = runner.fuse(lr_np, msi_np)
    with torch.no_grad():
        np.testing.assert_allclose(ref, model(lr, msi).cube.numpy(), rtol=0, atol=1e-4 * np.abs(ref).max())
    for k in (1e-3, 0.37, 8.0, 1e3):
        out = runner.fuse((lr_np * k).astype(np.float32), (msi_np * k).astype(np.float32))
        assert np.abs(out / k - ref).max() / np.abs(ref).max() <= 1e-4, k


def _tiny_physics(
    prior: str = "hpm",
    psf_estimate: bool = False,
    srf_estimate: bool = False,
    shift_estimate: bool = False,
    msi_denoise: bool = False,
    seed: int = 3,
    border_pad: int = 1,
) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = create_model(
        "student",
        "test_tiny",
        hsi_bands=B,
        msi_bands=b,
        scale=S,
        border_pad=border_pad,
        **{
            **PHYSICS, "prior": prior, "psf_estimate": psf_estimate, "srf_estimate": srf_estimate,
            "shift_estimate": shift_estimate, "msi_denoise": msi_denoise,
        },
    ).eval()  # fmt: skip
    model.set_degradation(_srf(), torch.as_tensor(make_psf(S).taps()))
    return model


@pytest.mark.parametrize(
    (*OPTIONS, "length"),
    [
        ("hpm", False, False, False, False, B + 3 * b + B * b),
        ("hpm_regression", False, False, False, False, 2 * B + 3 * b + B * b),
        ("hpm_regression", True, False, False, False, 2 * B + 3 * b + B * b + 2 * S),
        ("hpm_regression", True, True, False, False, 2 * B + 3 * b + 2 * B * b + 2 * S),
        # row and column taps over the wide window, 2 S + S taps each
        ("hpm_regression", True, True, True, False, 2 * B + 3 * b + 2 * B * b + 2 * 3 * S),
        # and a gain per HR-MSI band and detail level, and the noise each band keeps
        ("hpm_regression", True, True, True, True, 2 * B + 3 * b + 2 * B * b + 2 * 3 * S + 3 * b),
    ],
    ids=VARIANT_IDS,
)
def test_given_frame_statistics_are_the_measured_ones(
    prior: str, psf_estimate: bool, srf_estimate: bool, shift_estimate: bool, msi_denoise: bool, length: int
) -> None:
    model = _tiny_physics(prior, psf_estimate, srf_estimate, shift_estimate, msi_denoise)
    _, lr, msi = _scene(1, 24, 32)
    with torch.no_grad():
        stats = model.frame_statistics(lr, msi)
        assert stats.shape == (1, model.frame_statistics_length) == (1, length)
        torch.testing.assert_close(model(lr, msi, stats).cube, model(lr, msi).cube, rtol=0, atol=0)
    with pytest.raises(ValueError, match="frame_stats must be"):
        model(lr, msi, stats[:, :-1])


@pytest.mark.parametrize(OPTIONS, VARIANTS, ids=VARIANT_IDS)
def test_tiles_fed_the_frame_statistics_fuse_as_the_whole_image(
    prior: str, psf_estimate: bool, srf_estimate: bool, shift_estimate: bool, msi_denoise: bool
) -> None:
    # a tile measuring its own radiometry, HPM offset and band assignment (or pans) drifts from the whole
    # image; fed the frame's statistics, what is left is the CSA channel attention, which pools over the tile
    # (as in the paper, and in every CSAKD network the SDK tiles)
    model = _tiny_physics(prior, psf_estimate, srf_estimate, shift_estimate, msi_denoise)
    _, lr, msi = _scene(5, 128, 192)
    half, halo = 24, 8  # LR px: the left tile is LR columns 0..31, of which 0..23 are kept
    far = half + 2 * halo  # a brighter right part, off the tile: its own statistics differ from the frame's
    lr[..., far:] *= 5
    msi[..., far * S :] *= 5
    with torch.no_grad():
        whole = model(lr, msi).cube[..., : half * S]
        frame = model.frame_statistics(lr, msi)
        tile_lr, tile_msi = lr[..., : half + halo], msi[..., : (half + halo) * S]
        own = model(tile_lr, tile_msi).cube[..., : half * S]
        given = model(tile_lr, tile_msi, frame).cube[..., : half * S]
    inner = (..., slice(None), slice(0, (half - 4) * S))  # away from the cut: no convolution reaches it
    err_given = (given - whole)[inner].abs().max().item()
    err_own = (own - whole)[inner].abs().max().item()
    assert err_given <= 1e-3 * whole.abs().max().item(), err_given
    assert err_own > 10 * err_given, (err_own, err_given)


@pytest.mark.parametrize(OPTIONS, VARIANTS, ids=VARIANT_IDS)
def test_export_writes_the_statistics_graph_and_names_it_in_the_card(
    tmp_path: Path,
    prior: str,
    psf_estimate: bool,
    srf_estimate: bool,
    shift_estimate: bool,
    msi_denoise: bool,
) -> None:
    from spectra_distill.errors import ExportError
    from spectra_distill.export.onnx import OnnxFusion, sha256_file, stats_path_for

    model = _tiny_physics(prior, psf_estimate, srf_estimate, shift_estimate, msi_denoise)
    card_facts = {
        "wavelengths": [400.0 + 10 * i for i in range(B)],
        "msi": {"preset": "test", "band_names": ["b0", "b1", "b2"], "srf": _srf().tolist()},
        "psf": {"type": "gaussian", "kernel_size": 2 * S, "sigma": make_psf(S).sigma},
        "scale": S,
        "datasets": ["synthetic"],
        "split": "none",
    }
    from spectra_distill.export.model import export_model

    result = export_model(model, card_facts, tmp_path / "phys.onnx")
    stats_graph = stats_path_for(result.onnx_path)
    assert result.card["frame_statistics"] == {
        "graph": "phys.stats.onnx",
        "sha256": sha256_file(stats_graph),
        "input": "frame_stats",
        "length": model.frame_statistics_length,
    }
    assert result.card["io"]["inputs"]["frame_stats"]["shape"] == ["N", model.frame_statistics_length]
    _, lr, msi = _scene(6, 16, 24)
    runner = OnnxFusion(result.onnx_path)
    with torch.no_grad():
        stats = model.frame_statistics(lr, msi).numpy()
    # the pans' least squares sum in another order in onnxruntime: float32 rounding of the O(1) weights
    atol = 1e-7 if prior == "hpm" else 5e-5
    np.testing.assert_allclose(runner.statistics(lr.numpy(), msi.numpy()), stats, rtol=1e-5, atol=atol)
    # a precision variant beside it shares that statistics graph, named by the variant's card
    variant = tmp_path / "phys.fp16.onnx"
    variant.write_bytes(result.onnx_path.read_bytes())
    (tmp_path / "phys.fp16.card.json").write_text(json.dumps(result.card))
    shared = OnnxFusion(variant).statistics(lr.numpy(), msi.numpy())
    np.testing.assert_allclose(shared, stats, rtol=1e-5, atol=atol)
    stats_graph.unlink()
    with pytest.raises(ExportError, match="statistics graph is missing"):
        OnnxFusion(result.onnx_path)


def test_msi_in_other_units_changes_nothing() -> None:
    # a camera whose MSI is in other units (or has another gain per band) meets the SRF through the gain
    torch.manual_seed(4)
    model = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, scale=S, **PHYSICS).eval()
    model.set_degradation(_srf(), torch.as_tensor(make_psf(S).taps()))
    _, lr, msi = _scene(2)
    gains = torch.tensor([3.0, 250.0, 0.02]).view(1, b, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(lr, msi * gains).cube, model(lr, msi).cube, rtol=1e-4, atol=1e-5)


def test_gate_floor_keeps_every_stream() -> None:
    torch.manual_seed(5)
    model = create_model(
        "student", "test_tiny", hsi_bands=B, msi_bands=b, scale=S, gate_floor=0.05, **PHYSICS
    )
    model.set_degradation(_srf(), torch.as_tensor(make_psf(S).taps()))
    gate = model.fusion.gate
    with torch.no_grad():
        gate.conv.weight.zero_()
        gate.conv.bias.copy_(torch.tensor([-60.0, 60.0, -60.0, -60.0]))  # what collapsed the shipped student
        _, lr, msi = _scene(3)
        model(lr, msi)
    weights = gate.last_gates
    assert weights is not None
    assert torch.all(weights >= 0.05 - 1e-6)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones_like(weights[:, 0]))


def test_physics_needs_its_options() -> None:
    with pytest.raises(ValueError, match="needs lr_skip"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, prior="hpm")
    with pytest.raises(ValueError, match="needs input_norm"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, lr_skip=True, prior="hpm_regression")
    with pytest.raises(ValueError, match="choose one"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, input_norm=True, standardise=True)
    with pytest.raises(ValueError, match="gate_floor needs gate: softmax"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, gate_floor=0.1)
    plain = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b)
    with pytest.raises(ValueError, match="no in-graph physics"):
        plain.set_degradation(_srf(), torch.ones(2 * S))


@pytest.mark.parametrize("offset", [-0.5, 0.5])
def test_the_blur_of_a_pair_is_estimated_and_retargeting_puts_it_in_the_graph(offset: float) -> None:
    from spectra_distill.models.psf_estimate import estimate_psf_sigma, retargeted

    model = _tiny_physics()
    true_sigma = make_psf(S).sigma + offset
    hr, _, msi = _scene(7, 64, 64)
    camera = Degradation(B, b, S, 2 * S)
    camera.set(_srf(), torch.as_tensor(make_psf(S, sigma=true_sigma).taps()))
    lr = camera.degrade(hr)
    sigma = estimate_psf_sigma(model, lr[0].numpy(), msi[0].numpy())
    assert abs(sigma - true_sigma) <= 0.02, (sigma, true_sigma)
    moved = retargeted(model, sigma)
    expected = torch.as_tensor(make_psf(S, sigma=sigma).taps(), dtype=torch.float32)
    torch.testing.assert_close(moved.physics.taps, expected)
    torch.testing.assert_close(model.physics.taps, torch.as_tensor(make_psf(S).taps(), dtype=torch.float32))
    with torch.no_grad():  # with the camera's blur in the graph the output is closer to the truth
        err_card = (model(lr, msi).cube - hr).abs().mean().item()
        err_moved = (moved(lr, msi).cube - hr).abs().mean().item()
    assert err_moved < 0.8 * err_card, (err_moved, err_card)


def test_degrade_with_each_images_own_taps_is_the_degradation_with_those_taps() -> None:
    hr = torch.cat([_scene(1, 24, 32)[0], _scene(2, 24, 32)[0]])
    wide = torch.as_tensor(make_psf(S, sigma=2.6).taps(), dtype=torch.float32)
    card = _degradation()
    camera = Degradation(B, b, S, 2 * S)
    camera.set(_srf(), wide)
    taps = torch.stack([card.taps, wide])
    out = card.degrade(hr, taps)
    torch.testing.assert_close(out[:1], card.degrade(hr[:1]), rtol=0, atol=1e-6)
    torch.testing.assert_close(out[1:], camera.degrade(hr[1:]), rtol=0, atol=1e-6)


def _errors_with_card_and_measured_psf(
    hr: torch.Tensor, lr: torch.Tensor, msi: torch.Tensor
) -> tuple[float, float]:
    """Mean absolute errors of the regression-prior network with the card's PSF and with the frame's own."""
    card, estimating = (
        _tiny_physics(prior="hpm_regression"),
        _tiny_physics(prior="hpm_regression", psf_estimate=True),
    )
    with torch.no_grad():
        return (
            (card(lr, msi).cube - hr).abs().mean().item(),
            (estimating(lr, msi).cube - hr).abs().mean().item(),
        )


@pytest.mark.parametrize("offset", [-0.5, 0.0, 0.5])
def test_the_statistics_graph_measures_the_blur_each_frame_shows(offset: float) -> None:
    from spectra_distill.models.physics import PSF_SIGMAS

    card_sigma = make_psf(S).sigma
    assert round(card_sigma + offset, 1) in PSF_SIGMAS
    hr, _, msi = _scene(7, 64, 64)
    camera = Degradation(B, b, S, 2 * S)
    camera.set(_srf(), torch.as_tensor(make_psf(S, sigma=card_sigma + offset).taps()))
    lr = camera.degrade(hr)
    deg = _degradation()
    # a camera described right keeps its card's taps exactly; a wrong one gets the Gaussian it shows
    torch.testing.assert_close(deg.estimate_taps(lr, msi)[0], camera.taps, rtol=0, atol=1e-6)
    err_card, err_own = _errors_with_card_and_measured_psf(hr, lr, msi)
    if offset:
        assert err_own < 0.8 * err_card, (err_own, err_card)
    else:
        assert err_own == pytest.approx(err_card, rel=1e-5)


@pytest.mark.parametrize("shape", ["truncated", "box", "ring"])
def test_free_taps_are_fitted_in_closed_form_for_any_symmetric_blur(shape: str) -> None:
    half = {
        "truncated": np.concatenate([np.zeros(S // 2), make_psf(S, S).taps()[S // 2 :]]),
        "box": np.array([0.0, 1.0, 1.0, 1.0]),
        "ring": np.array([0.3, 0.1, 0.05, 0.2]),  # no Gaussian looks like this
    }[shape]
    truth = np.concatenate([half, half[::-1]])
    truth /= truth.sum()
    hr, _, msi = _scene(11, 64, 64)
    camera = Degradation(B, b, S, 2 * S)
    camera.set(_srf(), torch.as_tensor(truth))
    lr = camera.degrade(hr)
    deg = _degradation()
    framed = deg._framed(msi).reshape(1, b, 64 + 2 * deg.pad, 64 + 2 * deg.pad)
    fitted = deg.fit_taps(deg.project(lr), framed)[0].double().numpy()
    np.testing.assert_allclose(fitted, truth, atol=2e-4)
    assert fitted.sum() == pytest.approx(1.0, abs=1e-6)
    # the statistics graph prefers them to every Gaussian, and the network fuses with them
    estimated = deg.estimate_taps(lr, msi)[0].double()
    torch.testing.assert_close(estimated, torch.as_tensor(truth), rtol=0, atol=2e-4)
    err_card, err_own = _errors_with_card_and_measured_psf(hr, lr, msi)
    assert err_own < 0.8 * err_card, (err_own, err_card)


def test_noise_does_not_trade_the_cards_blur_for_fitted_taps() -> None:
    hr, lr, msi = _scene(13, 64, 64)
    g = torch.Generator().manual_seed(0)
    # 30 dB SNR on both inputs: the fitted taps chase the noise a little, never by the switch margin
    sigma = 10 ** (-30 / 20)
    noisy = [x + x.pow(2).mean().sqrt() * sigma * torch.randn(x.shape, generator=g) for x in (lr, msi)]
    deg = _degradation()
    torch.testing.assert_close(deg.estimate_taps(*noisy)[0], deg.taps, rtol=0, atol=1e-6)


def test_psf_estimate_needs_frame_statistics() -> None:
    with pytest.raises(ValueError, match="psf_estimate .* needs input_norm"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, lr_skip=True, psf_estimate=True)


def test_a_blur_that_is_not_gaussian_is_fitted_as_free_taps() -> None:
    from spectra_distill.models.psf_estimate import estimate_psf_sigma, fit_psf_taps, retargeted

    model = _tiny_physics()
    # the Gaussian cut to `S` taps inside a 2S kernel: the generalisation tables' "PSF truncated (s taps)"
    short = make_psf(S, S).taps()
    truth = np.concatenate([np.zeros(S // 2), short, np.zeros(S // 2)])
    hr, _, msi = _scene(9, 64, 64)
    camera = Degradation(B, b, S, 2 * S)
    camera.set(_srf(), torch.as_tensor(truth))
    lr = camera.degrade(hr)
    sigma = estimate_psf_sigma(model, lr[0].numpy(), msi[0].numpy())
    taps = fit_psf_taps(model, lr[0].numpy(), msi[0].numpy())
    np.testing.assert_allclose(taps, truth, atol=0.01)
    assert abs(taps.sum() - 1) < 1e-6 and np.allclose(taps, taps[::-1])
    with torch.no_grad():
        err_gauss = (retargeted(model, sigma)(lr, msi).cube - hr).abs().mean().item()
        err_free = (retargeted(model, taps)(lr, msi).cube - hr).abs().mean().item()
    assert err_free < err_gauss, (err_free, err_gauss)


def test_physics_only_method_is_the_prior_through_the_back_projections() -> None:
    # `generalise --physics-only`: the student with its learnt detail zeroed is HPM + consistency alone
    from types import SimpleNamespace

    from spectra_distill.evaluate.methods import PhysicsOnlyTorchMethod, torch_method
    from spectra_distill.models.physics import FrameStatistics

    torch.manual_seed(5)
    model = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, scale=S, **PHYSICS).eval()
    model.set_degradation(_srf(), torch.as_tensor(make_psf(S).taps()))
    _, lr, msi = _scene(2, 32, 32)
    pair = SimpleNamespace(
        lrhsi=SimpleNamespace(data=lr[0].numpy()), hrmsi=SimpleNamespace(data=msi[0].numpy()), scale=S
    )
    method = PhysicsOnlyTorchMethod(name="physics", kind="network", model=model)
    got = method.predict(pair).cube  # type: ignore[arg-type]
    with torch.no_grad():
        stats = FrameStatistics.measure(model.radiometry, lr, msi)
        gained = msi * stats.msi_gain
        prior = hpm_prior(model.physics, lr, gained, stats.hpm_offset, stats.assign)
        expected = consistency(model.physics, prior, lr, gained, PHYSICS["consistency_steps"])[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    # and the hook is gone: the same model fuses with its detail again
    full = torch_method("student", model, "cpu").predict(pair).cube  # type: ignore[arg-type]
    assert np.abs(full - got).max() > 1e-4


@pytest.mark.parametrize("head_rank", [0, 4])
def test_detail_gain_moves_the_output_along_the_line_from_the_prior(head_rank: int) -> None:
    # `calibrate` scores every gain from two fusions: out(g) = out(0) + g (out(1) - out(0)) must hold exactly,
    # through the HPM prior, the back-projections and the mirror frame, for both head layouts
    import copy

    torch.manual_seed(7)
    cfg = {**PHYSICS, "head_rank": head_rank, "border_pad": 1}
    model = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, scale=S, **cfg).eval()
    model.set_degradation(_srf(), torch.as_tensor(make_psf(S).taps()))
    _, lr, msi = _scene(3, 32, 32)

    def fused(gain: float) -> torch.Tensor:
        scaled = copy.deepcopy(model)
        scaled.head.scale_detail(gain)
        with torch.no_grad():
            return scaled(lr, msi).cube

    zero, one = fused(0.0), fused(1.0)
    assert (one - zero).abs().max() > 1e-4  # the random head adds detail, so the line is not a point
    for gain in (0.3, 1.7):
        np.testing.assert_allclose(fused(gain), zero + gain * (one - zero), rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(one, model(lr, msi).cube, rtol=0, atol=0)


@pytest.mark.parametrize("gain", [-0.1, float("nan"), float("inf")])
def test_detail_gain_refuses_negative_and_non_finite_gains(gain: float) -> None:
    model = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, scale=S, **PHYSICS)
    with pytest.raises(ValueError, match="detail gain must be finite and >= 0"):
        model.head.scale_detail(gain)


def test_spd_inverse_solve_matches_a_library_solve() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 30, 40, generator=g, dtype=torch.float64)
    gram = a @ a.transpose(1, 2) + 1e-3 * torch.eye(30, dtype=torch.float64)
    rhs = torch.randn(2, 30, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(spd_inverse_solve(gram, rhs), torch.linalg.solve(gram, rhs))


def _shifted_srf() -> torch.Tensor:
    # the camera's responses one band redder than the card's, and wider
    srf = torch.zeros(b, B)
    for j in range(b):
        srf[j, 3 * j + 1 : 3 * j + 5] = torch.tensor([0.2, 0.4, 0.3, 0.1])
    return srf


def _unit_misfit(srf: torch.Tensor, true: torch.Tensor, hr: torch.Tensor) -> float:
    # how far the SRF's projection of a scene lies from the camera's, relative to the camera's
    project = lambda r: torch.einsum("bB,nBhw->nbhw", r, hr)  # noqa: E731
    return ((project(srf) - project(true)).norm() / project(true).norm()).item()


def test_fit_srf_recovers_a_camera_the_card_does_not_describe() -> None:
    deg = _degradation()
    hr, lr, _ = _scene(2, 64, 64)
    true = _shifted_srf()
    lr_msi = deg.degrade(torch.einsum("bB,nBhw->nbhw", true, hr))
    fitted = fit_srf(deg, lr[..., :8], lr_msi[..., :8])[0]  # the left half
    held_out = hr[..., 8 * S :]  # pixels the fit never saw
    assert _unit_misfit(fitted, true, held_out) < 0.1 * _unit_misfit(deg.srf, true, held_out)
    # bands no card row weighs, nor its neighbours, keep zero weight
    assert deg.fit_bands == tuple(range(B - 1))
    assert (fitted[:, B - 1] == 0).all()
    # scaling both inputs keeps the fit (both are in the same units)
    torch.testing.assert_close(fit_srf(deg, lr[..., :8] * 1e3, lr_msi[..., :8] * 1e3)[0], fitted)


def test_fit_srf_keeps_the_card_on_a_noisy_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    # the card is right; the LR-HSI is at 25 dB. Without the noise ridge the fit spreads the weights to
    # average the noise out, a response no camera has
    deg = _degradation()
    hr, lr, msi = _scene(4, 64, 64)
    g = torch.Generator().manual_seed(5)
    noisy = lr + torch.randn(lr.shape, generator=g) * lr.pow(2).mean().sqrt() * 10 ** (-25 / 20)
    lr_msi = deg.degrade(msi)

    def drift() -> float:
        return ((fit_srf(deg, noisy, lr_msi)[0] - deg.srf).norm() / deg.srf.norm()).item()

    shipped = drift()
    monkeypatch.setattr(physics, "SRF_NOISE_RIDGE", 0.0)
    assert shipped < 0.05 < drift()


def test_srf_estimate_needs_consistency_steps() -> None:
    with pytest.raises(ValueError, match="srf_estimate .* consistency_steps"):
        create_model(
            "student", "test_tiny", hsi_bands=B, msi_bands=b, **{**PHYSICS, "consistency_steps": 0},
            srf_estimate=True,
        )  # fmt: skip


def test_exported_srf_fit_stays_finite_on_a_dark_frame(tmp_path: Path) -> None:
    # an all-zero capture (lens cap on): the fit falls back to the card's SRF instead of solving 0 / 0
    from spectra_distill.export.onnx import OnnxFusion, export_onnx

    model = _tiny_physics(prior="hpm_regression", psf_estimate=True, srf_estimate=True)
    runner = OnnxFusion(export_onnx(model, tmp_path / "physics.onnx"))
    lr, msi = np.zeros((1, B, 6, 6), np.float32), np.zeros((1, b, 6 * S, 6 * S), np.float32)
    stats = runner.statistics(lr, msi)
    assert np.isfinite(stats).all() and np.isfinite(runner.fuse(lr, msi)).all()
    fitted = stats[0, -b * B :].reshape(b, B)
    np.testing.assert_allclose(fitted, model.physics.srf.numpy(), atol=1e-6)


def _sampled_off_middle(start: int, seed: int = 7) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A pair whose LR-HSI is `gaussian_filter(hr)[..., start::S, start::S]` (the card's sigma, untruncated):
    its pixels sit start - (S - 1) / 2 HR px off the middle of each block."""
    from spectra_distill.degrade.psf import blur_sample

    hr, _, msi = _scene(seed, 64, 64)
    lr = torch.from_numpy(blur_sample(hr.numpy(), make_psf(S).sigma, S, start))
    return hr, lr, msi


@pytest.mark.parametrize("response", [False, True], ids=["card response", "fitted response"])
@pytest.mark.parametrize("start", [0, 1, 3])
def test_an_lrhsi_sampled_off_the_block_middle_is_fitted_as_a_shifted_blur(
    start: int, response: bool
) -> None:
    hr, lr, msi = _sampled_off_middle(start)
    deg = _degradation()
    taps = deg.estimate_taps(lr, msi, shift=True, response=response)
    assert deg.is_shifted(taps)
    np.testing.assert_allclose(deg.shift_of(taps)[0].numpy(), [start - (S - 1) / 2] * 2, atol=0.2)
    plain = _tiny_physics("hpm_regression", psf_estimate=True)
    shifted = _tiny_physics("hpm_regression", psf_estimate=True, shift_estimate=True)
    with torch.no_grad():
        err_plain = (plain(lr, msi).cube - hr).abs().mean().item()
        err_shifted = (shifted(lr, msi).cube - hr).abs().mean().item()
    assert err_shifted < 0.5 * err_plain, (err_shifted, err_plain)


@pytest.mark.parametrize("response", [False, True], ids=["card response", "fitted response"])
@pytest.mark.parametrize("snr_db", [None, 30.0])
def test_a_pair_in_register_keeps_its_centred_blur(snr_db: float | None, response: bool) -> None:
    # the card's convention, clean or at 30 dB SNR on both inputs: no shift wins by the switch margin, and the
    # network fuses exactly as without the search
    hr, lr, msi = _scene(13, 64, 64)
    if snr_db is not None:
        g = torch.Generator().manual_seed(0)
        sigma = 10 ** (-snr_db / 20)
        lr, msi = (x + x.pow(2).mean().sqrt() * sigma * torch.randn(x.shape, generator=g) for x in (lr, msi))
    deg = _degradation()
    taps = deg.estimate_taps(lr, msi, shift=True, response=response)[0]
    centred = torch.nn.functional.pad(deg.taps, (S // 2, S // 2))
    torch.testing.assert_close(taps, torch.stack([centred, centred]), rtol=0, atol=1e-6)
    plain = _tiny_physics("hpm_regression", psf_estimate=True)
    shifted = _tiny_physics("hpm_regression", psf_estimate=True, shift_estimate=True)
    with torch.no_grad():
        torch.testing.assert_close(shifted(lr, msi).cube, plain(lr, msi).cube, rtol=0, atol=1e-5)


def test_upsampling_moves_each_image_by_its_own_shift() -> None:
    deg = _degradation()
    # a smooth image: cubic interpolation moves it nearly exactly
    g = torch.Generator().manual_seed(3)
    coarse = torch.rand(1, B, 8, 10, generator=g)
    lr = (
        torch.nn.functional.interpolate(coarse, size=(32, 40), mode="bicubic")
        .expand(2, -1, -1, -1)
        .contiguous()
    )
    centred = torch.nn.functional.pad(deg.taps, (S // 2, S // 2))
    # image 0 centred: the plain upsampling; image 1's blur S/2 HR px (half an LR pixel) up and left
    moved = torch.nn.functional.pad(deg.taps, (0, S))
    taps = torch.stack([torch.stack([centred, centred]), torch.stack([moved, moved])])
    np.testing.assert_allclose(deg.shift_of(taps).numpy(), [[0, 0], [-S / 2, -S / 2]], atol=1e-5)
    out = deg.upsample(lr, taps)
    torch.testing.assert_close(out[:1], deg.upsample(lr[:1]), rtol=0, atol=1e-6)
    # its LR pixels sit S/2 HR px up and left of the block middles: the plain upsampling moved that way
    plain = deg.upsample(lr[1:])[0]
    inner = (slice(None), slice(2 * S, -2 * S), slice(2 * S, -2 * S))
    ahead = (slice(None), slice(2 * S - S // 2, -2 * S - S // 2), slice(2 * S - S // 2, -2 * S - S // 2))
    # (cubic interpolation at half an LR pixel, then the upsampling's own: not an exact shift of the result)
    err = (out[1][ahead] - plain[inner]).abs().mean().item()
    assert err < 0.25 * (out[1][inner] - plain[inner]).abs().mean().item(), err


def test_shift_estimate_needs_psf_estimate() -> None:
    with pytest.raises(ValueError, match="shift_estimate .* needs psf_estimate"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, **PHYSICS, shift_estimate=True)


def test_an_lrhsi_resized_by_an_image_library_is_fitted_with_its_negative_lobes() -> None:
    # `interpolate(hr, 1/S, mode="bicubic", antialias=True)`: centred, but 4 S px wide with negative lobes, which
    # no Gaussian and no non-negative taps of the card's width explain
    from spectra_distill.degrade.torch_ops import resize_down

    hr, _, msi = _scene(7, 64, 64)
    lr = torch.from_numpy(resize_down(hr.numpy(), S, "bicubic"))
    deg = _degradation()
    taps = deg.estimate_taps(lr, msi, shift=True, response=True)
    assert deg.is_shifted(taps) and (taps < 0).any()
    np.testing.assert_allclose(deg.shift_of(taps)[0].numpy(), [0.0, 0.0], atol=0.2)
    plain = _tiny_physics("hpm_regression", psf_estimate=True)
    shifted = _tiny_physics("hpm_regression", psf_estimate=True, shift_estimate=True)
    with torch.no_grad():
        err_plain = (plain(lr, msi).cube - hr).abs().mean().item()
        err_shifted = (shifted(lr, msi).cube - hr).abs().mean().item()
    assert err_shifted < 0.8 * err_plain, (err_shifted, err_plain)


def _msi_noise_sigma(msi: torch.Tensor, snr_db: float) -> float:
    return msi.pow(2).mean().sqrt().item() * 10 ** (-snr_db / 20)


@pytest.mark.parametrize("snr_db", [20.0, 30.0])
def test_msi_noise_is_measured_and_a_clean_msi_keeps_its_detail(snr_db: float) -> None:
    from spectra_distill.models.physics import MsiDenoise

    denoise = MsiDenoise()
    _, _, msi = _scene(11, 96, 96)
    # the scene's fine shading is in every band: the other bands explain it, and nothing reads as noise
    clean = denoise.gains(msi)[0]
    assert clean.min().item() > 0.99
    sigma = _msi_noise_sigma(msi, snr_db)
    noisy = msi + sigma * torch.randn(msi.shape, generator=torch.Generator().manual_seed(0))
    measured = denoise.noise_variance(noisy).sqrt()
    np.testing.assert_allclose(measured.numpy(), sigma, rtol=0.25)
    gains, variance = denoise.gains(noisy)
    torch.testing.assert_close(variance, measured**2)
    assert (gains < clean).all(), gains  # every level of every band is shrunk
    # what the shrunk HR-MSI keeps, against white noise of that variance run through the shrinkage
    white = sigma * torch.randn(msi.shape, generator=torch.Generator().manual_seed(1))
    kept = denoise.shrink(white, gains).pow(2).mean(dim=(-2, -1))
    np.testing.assert_allclose(denoise.kept_noise(variance, gains).numpy(), kept.numpy(), rtol=0.3)
    assert (denoise.kept_noise(variance, gains) < variance).all()
    # the estimate and the gains are scale-free: the same frame in other units
    torch.testing.assert_close(denoise.noise_variance(noisy * 1e3).sqrt(), measured * 1e3, rtol=1e-3, atol=0)
    torch.testing.assert_close(denoise.gains(noisy * 1e3)[0], gains, rtol=0, atol=1e-4)


def test_a_noisy_msi_is_fused_with_less_error_and_a_clean_one_as_before() -> None:
    # edges and smooth shading (the white shading of `_scene` is detail no denoiser may remove)
    g = torch.Generator().manual_seed(12)
    abund = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 6, generator=g) * 8, size=(96, 96)).softmax(1)
    shading = torch.nn.functional.interpolate(
        torch.rand(1, 1, 12, 12, generator=g), size=(96, 96), mode="bicubic"
    )
    hr = torch.einsum("nkhw,kb->nbhw", abund, torch.rand(3, B, generator=g) * 0.6 + 0.1) * (0.5 + shading)
    deg = _degradation()
    lr, msi = deg.degrade(hr), deg.project(hr)
    noisy = msi + _msi_noise_sigma(msi, 20.0) * torch.randn(
        msi.shape, generator=torch.Generator().manual_seed(1)
    )
    plain = _tiny_physics("hpm_regression", True, True, True)
    denoised = _tiny_physics("hpm_regression", True, True, True, msi_denoise=True)
    with torch.no_grad():
        err_plain = (plain(lr, noisy).cube - hr).pow(2).mean().item()
        err_denoised = (denoised(lr, noisy).cube - hr).pow(2).mean().item()
        assert err_denoised < 0.7 * err_plain, (err_denoised, err_plain)
        clean = (denoised(lr, msi).cube - plain(lr, msi).cube).abs().max().item()
    assert clean < 1e-2 * hr.abs().max().item(), clean


@pytest.mark.parametrize("lr_px", [2, 3])
def test_frames_of_one_block_or_a_partial_one_measure_finite_gains(lr_px: int) -> None:
    # 8 HR px is one noise block; 12 is one and a partial one (the pooling keeps partial blocks)
    model = _tiny_physics("hpm_regression", True, True, True, msi_denoise=True)
    _, lr, msi = _scene(3, 8, 8)
    lr, msi = lr[..., :lr_px, :lr_px], msi[..., : lr_px * S, : lr_px * S]
    with torch.no_grad():
        stats = model.frame_statistics(lr, msi)
        assert torch.isfinite(stats).all() and torch.isfinite(model(lr, msi).cube).all()


def test_the_networks_own_steps_sit_in_the_model_scope_of_the_exported_graph(tmp_path: Path) -> None:
    # the quantizer keeps `/model/<op>` float and converts learnt modules' scopes (`quantize/graph-index.ts`):
    # a physics step called as a submodule would get a scope of its own and be converted to int8
    import onnx

    from spectra_distill.export.onnx import export_onnx

    model = _tiny_physics("hpm_regression", True, True, True, msi_denoise=True)
    graph = onnx.load(str(export_onnx(model, tmp_path / "physics.onnx"))).graph
    scopes = {n.name.rsplit("/", 1)[0] for n in graph.node if n.name.startswith("/model")}
    learnt = {s.split("/")[2] for s in scopes if s != "/model"}
    assert learnt <= {"body", "fusion", "head"}, learnt


@pytest.mark.parametrize("changes", [{"input_norm": False, "prior": "hpm"}, {"msi_bands": 1}])
def test_msi_denoise_needs_the_frame_statistics_and_other_bands(changes: dict) -> None:
    # one band has no other band to tell its noise from its detail: the estimate would take all detail for noise
    options = {**PHYSICS, "msi_denoise": True, **changes}
    if not options["input_norm"]:
        options.update(lr_skip=True, consistency_steps=0)
    with pytest.raises(ValueError, match="msi_denoise .* needs input_norm: true and msi_bands >= 2"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=options.pop("msi_bands", b), **options)


def test_backprojection_gain_drops_a_noise_residual_keeps_a_misfit_and_is_local() -> None:
    from spectra_distill.models.physics import BACKPROJECTION_WINDOW, backprojection_gain

    g = torch.Generator().manual_seed(3)
    noise = torch.randn(1, 3, 64, 64, generator=g)
    variance = torch.ones(1, 3)
    # a residual that is the noise itself: its energy is the noise's, so little of it is kept
    assert backprojection_gain(noise, variance).mean().item() < 0.35
    # a misfit ten times the noise's amplitude on the left half: kept there, dropped on the right
    misfit = noise.clone()
    misfit[..., :32] += 10.0 * torch.sign(torch.randn(1, 3, 64, 32, generator=g))
    gain = backprojection_gain(misfit, variance)
    assert gain[..., :24].min().item() > 0.9
    assert gain[..., 40:].mean().item() < 0.35
    # scale-free, and what a tile of the frame sees inside it is what the frame sees there
    torch.testing.assert_close(backprojection_gain(misfit * 1e3, variance * 1e6), gain, rtol=0, atol=1e-5)
    reach = 3 * math.ceil(BACKPROJECTION_WINDOW)
    tile = backprojection_gain(misfit[..., 10:50, 10:50], variance)
    torch.testing.assert_close(
        tile[..., reach:-reach, reach:-reach], gain[..., 10 + reach : 50 - reach, 10 + reach : 50 - reach]
    )


def test_pan_detail_gain_weighs_each_pans_detail_by_the_noise_its_weights_carry() -> None:
    from spectra_distill.models.physics import (
        BACKPROJECTION_WINDOW,
        MsiDenoise,
        _detail_taps,
        pan_detail_gain,
    )

    g = torch.Generator().manual_seed(5)
    detail = torch.randn(1, 3, 48, 48, generator=g)
    detail[..., :24] += 8.0 * torch.sign(torch.randn(1, 3, 48, 24, generator=g))  # signal on the left half
    noise = torch.tensor([[1.0, 0.5, 2.0]])
    # band 0 takes one HR-MSI band, band 1 a difference of two (twice the noise), band 2 a large mix
    weights = torch.tensor([[[1.0, 0.0, 0.0], [1.0, -1.0, 0.0], [3.0, -2.0, 1.5]]])
    gain = pan_detail_gain(detail, weights, noise)
    # the energy is the pan's own detail blurred: the quadratic form of the local moments equals it
    taps = torch.as_tensor(_detail_taps(BACKPROJECTION_WINDOW), dtype=torch.float32)
    pans = torch.einsum("nBb,nbhw->nBhw", weights, detail)
    energy = MsiDenoise._blur((pans**2).reshape(3, 1, 48, 48), taps).reshape(1, 3, 48, 48)
    carried = (weights**2 @ noise[..., None])[..., None]
    torch.testing.assert_close(gain, (1 - carried / energy).clamp(0, 1), rtol=1e-4, atol=1e-5)
    # detail well above the noise is kept, a pan of noise alone is mostly dropped
    assert gain[..., 4:16].min().item() > 0.9
    assert gain[..., 36:].mean().item() < 0.4
    # no noise keeps every pan whole, and the gain is scale-free
    assert torch.equal(pan_detail_gain(detail, weights, torch.zeros(1, 3)), torch.ones(1, 3, 48, 48))
    torch.testing.assert_close(pan_detail_gain(detail * 1e3, weights, noise * 1e6), gain, rtol=0, atol=1e-5)


def test_the_regression_prior_with_a_noiseless_hrmsi_is_the_prior_without_the_gain() -> None:
    deg = _degradation()
    _, lr, msi = _scene()
    weights, bias = regression_pan(lr, deg.degrade(msi))
    offset = torch.full((1, B, 1, 1), 0.01)
    plain = regression_prior(deg, lr, msi, weights, bias, offset)
    silent = regression_prior(deg, lr, msi, weights, bias, offset, msi_noise=torch.zeros(1, b))
    torch.testing.assert_close(silent, plain)
    # with noise the detail is kept at most whole: every pixel lies between the upsampled LR-HSI and the prior
    up = deg.upsample(lr)
    shrunk = regression_prior(deg, lr, msi, weights, bias, offset, msi_noise=torch.full((1, b), 1e-3))
    assert ((shrunk - up).abs() <= (plain - up).abs() + 1e-6).all()
    assert not torch.allclose(shrunk, plain)
