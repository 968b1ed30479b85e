"""FusionNet, presets, fusion variants and the paper's parameter / MAC arithmetic."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from spectra_distill.models import (
    FUSIONS,
    PRESETS,
    ROLES,
    ChannelCrossAttention,
    CLRABlock,
    FusionNet,
    FusionNetConfig,
    InputStatistics,
    create_model,
    model_config,
)
from spectra_distill.models.complexity import measure_complexity
from spectra_distill.models.dts import Streams
from spectra_distill.models.layers import mirror_pad

B, b, S = 8, 3, 4


def _inputs(n: int = 2, h: int = 4, w: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, B, h, w, generator=g), torch.rand(n, b, h * S, w * S, generator=g)


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("preset", [p for p in PRESETS if p != "paper"])
def test_preset_shapes(preset: str, role: str) -> None:
    torch.manual_seed(0)
    model = create_model(role, preset, hsi_bands=B, msi_bands=b, scale=S).eval()
    lrhsi, hrmsi = _inputs()
    with torch.no_grad():
        out = model(lrhsi, hrmsi)
    assert out.cube.shape == (2, B, 16, 24)
    assert out.features.shape == (2, model.config.nf, 16, 24)
    assert torch.isfinite(out.cube).all()


@pytest.mark.parametrize("role", ROLES)
def test_paper_shapes_on_meta(role: str) -> None:
    with torch.device("meta"):
        model = create_model(role, "paper", hsi_bands=172, msi_bands=4)
        out = model(torch.empty(1, 172, 8, 8), torch.empty(1, 4, 32, 32))
    assert out.cube.shape == (1, 172, 32, 32)
    assert out.features.shape == (1, 86, 32, 32)


@pytest.mark.parametrize("fusion", list(FUSIONS))
def test_fusion_variant_shapes_and_every_stream_gets_gradient(fusion: str) -> None:
    torch.manual_seed(0)
    model = create_model("teacher", "test_tiny", hsi_bands=B, msi_bands=b, fusion=fusion)
    lrhsi, hrmsi = _inputs()
    out = model(lrhsi, hrmsi)
    assert out.cube.shape == (2, B, 16, 24)
    out.cube.square().mean().backward()
    for name in ("joint_hr", "joint_lr", "msi", "hsi"):
        entry_conv = getattr(model.body, name)[0]
        assert entry_conv.weight.grad is not None, name
        assert entry_conv.weight.grad.abs().max() > 0, f"{fusion}: no gradient into the {name} stream"


@pytest.mark.parametrize("role", ROLES)
def test_every_parameter_is_used(role: str) -> None:
    # The authors' student builds a joint-HR block it never calls; ours must not hold dead weights.
    torch.manual_seed(0)
    model = create_model(role, "test_tiny", hsi_bands=B, msi_bands=b)
    model(*_inputs()).cube.mean().backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert unused == []


@pytest.mark.parametrize("qk_norm", ["l2", "none"])
def test_csa_query_key_get_gradient_only_without_degenerate_switch(qk_norm: str) -> None:
    ratios = {}
    for degenerate in (False, True):
        torch.manual_seed(0)
        model = create_model(
            "teacher", "test_tiny", hsi_bands=B, msi_bands=b, qk_norm=qk_norm, degenerate=degenerate
        )
        model(*_inputs()).cube.square().mean().backward()
        attn = model.fusion.attention
        v_grad = attn.v.weight.grad.abs().max()
        assert v_grad > 0
        ratios[degenerate] = max(attn.q.weight.grad.abs().max(), attn.k.weight.grad.abs().max()) / v_grad
    assert ratios[False] > 1e-2
    assert ratios[True] < 1e-5


def test_attention_applies_map_to_values_and_degenerate_sums_values() -> None:
    torch.manual_seed(0)
    attn = ChannelCrossAttention(nf=8, attn_dim=8, heads=2, qk_norm="none")
    x1, x2, x3 = (torch.randn(1, 8, 4, 4) for _ in range(3))
    q = attn.q(x1).reshape(1, 2, 4, 16)
    k = attn.k(x2).reshape(1, 2, 4, 16)
    v = attn.v(x3).reshape(1, 2, 4, 16)
    a = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1)
    expected = attn.proj((a @ v).reshape(1, 8, 4, 4))
    torch.testing.assert_close(attn(x1, x2, x3), expected)
    attn.degenerate = True
    summed = v.sum(dim=2, keepdim=True).expand(-1, -1, 4, -1)
    torch.testing.assert_close(attn(x1, x2, x3), attn.proj(summed.reshape(1, 8, 4, 4)))


def test_l2_attention_logits_do_not_grow_with_image_size() -> None:
    # The point of qk_norm='l2': same content tiled 4x gives the same map, unlike the raw dot product.
    torch.manual_seed(0)
    x1, x2, x3 = (torch.randn(1, 8, 4, 4) for _ in range(3))
    tiled = [x.repeat(1, 1, 2, 2) for x in (x1, x2, x3)]
    for qk_norm, same in (("l2", True), ("none", False)):
        attn = ChannelCrossAttention(nf=8, attn_dim=8, heads=2, qk_norm=qk_norm)
        small = attn(x1, x2, x3)
        large = attn(*tiled)[..., :4, :4]
        assert torch.allclose(small, large, atol=1e-5) is same, qk_norm


def test_physical_units_mapping() -> None:
    model = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b)
    with torch.no_grad():
        model.head.body[-1].weight.zero_()
        out = model(*_inputs())
    # A zero head output in the network's [-1, 1] range is 0.5 in physical units.
    torch.testing.assert_close(out.cube, torch.full_like(out.cube, 0.5))
    with torch.no_grad():
        features = model.forward_features(*model.normalise(*_inputs())[:2])
    torch.testing.assert_close(features, out.features)


def test_forward_is_composition_of_features_and_head() -> None:
    torch.manual_seed(1)
    model = create_model("teacher", "test_tiny", hsi_bands=B, msi_bands=b).eval()
    lrhsi, hrmsi = _inputs()
    with torch.no_grad():
        out = model(lrhsi, hrmsi)
        net_lr, net_msi, msi, out_scale = model.normalise(lrhsi, hrmsi)
        features = model.forward_features(net_lr, net_msi)
        torch.testing.assert_close(model.forward_head(features, lrhsi, msi, out_scale), out.cube)


def _stream_order(streams: Streams) -> tuple[torch.Tensor, ...]:
    return streams.hsi, streams.msi, streams.joint_lr, streams.joint_hr


def test_lr_skip_starts_from_the_bilinear_lrhsi() -> None:
    model = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, lr_skip=True)
    lrhsi, hrmsi = _inputs()
    with torch.no_grad():
        model.head.body[-1].weight.zero_()
        out = model(lrhsi, hrmsi)
    bilinear = torch.nn.functional.interpolate(lrhsi, scale_factor=S, mode="bilinear", align_corners=False)
    torch.testing.assert_close(out.cube, bilinear)
    # the head still adds a learned residual once its weights move
    with torch.no_grad():
        model.head.body[-1].weight.fill_(0.01)
        assert not torch.allclose(model(lrhsi, hrmsi).cube, bilinear)


def test_standardise_statistics_map_inputs_and_scale_the_head() -> None:
    torch.manual_seed(2)
    model = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, standardise=True).eval()
    lrhsi, hrmsi = _inputs()
    stats = InputStatistics(
        torch.linspace(0.1, 0.3, B),
        torch.linspace(0.02, 0.2, B),
        torch.tensor([0.2, 0.3, 0.4]),
        torch.full((b,), 0.1),
    )
    model.set_input_statistics(stats)
    pb = lambda v: v.view(1, -1, 1, 1)  # noqa: E731
    with torch.no_grad():
        expected = model.fusion(
            *_stream_order(
                model.body((lrhsi - pb(stats[0])) / pb(stats[1]), (hrmsi - pb(stats[2])) / pb(stats[3]))
            )
        )
        torch.testing.assert_close(model.forward_features(*model.normalise(lrhsi, hrmsi)[:2]), expected)
        model.head.body[-1].weight.zero_()
        # a zero head output is the band mean in physical units
        torch.testing.assert_close(model(lrhsi, hrmsi).cube, pb(stats.hsi_mean).expand(2, B, 16, 24))
        model.head.body[-1].weight.fill_(0.01)
        detail = model.head(model.forward_features(*model.normalise(lrhsi, hrmsi)[:2]))
        torch.testing.assert_close(model(lrhsi, hrmsi).cube, detail * pb(stats.hsi_std) + pb(stats.hsi_mean))
    with pytest.raises(ValueError, match="hsi_std must be finite"):
        model.set_input_statistics(stats._replace(hsi_std=torch.zeros(B)))
    with pytest.raises(ValueError, match=r"msi_mean: expected shape \(3,\)"):
        model.set_input_statistics(stats._replace(msi_mean=torch.zeros(4)))


def test_checkpoints_without_statistics_load_the_fixed_mapping() -> None:
    model = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b)
    old = {k: v for k, v in model.state_dict().items() if not k.endswith(("_mean", "_std"))}
    fresh = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, standardise=True)
    fresh.set_input_statistics(InputStatistics(torch.zeros(B), torch.ones(B), torch.zeros(b), torch.ones(b)))
    fresh.load_state_dict(old)
    assert torch.equal(fresh.hsi_std, torch.full((B,), 0.5)) and torch.equal(
        fresh.msi_mean, torch.full((b,), 0.5)
    )


def test_grouped_head_output_conv_shrinks_a_many_band_student_below_a_third() -> None:
    with torch.device("meta"):
        t = create_model("teacher", "cpu_small", hsi_bands=206, msi_bands=4)
        s = create_model("student", "cpu_small", hsi_bands=206, msi_bands=4)
        grouped = create_model("student", "cpu_small", hsi_bands=206, msi_bands=4, head_out_groups=103)
    assert _n_params(s) > _n_params(t) / 3, "the ungrouped B x B head conv dominates at 206 bands"
    assert _n_params(grouped) <= _n_params(t) / 3
    assert _n_params(s) - _n_params(grouped) == 9 * 206 * 206 - 9 * 206 * 2
    with pytest.raises(ValueError, match="head_out_groups=4 must divide hsi_bands=206"):
        create_model("student", "cpu_small", hsi_bands=206, msi_bands=4, head_out_groups=4)


def test_paper_parameter_counts_match_reference_arithmetic() -> None:
    with torch.device("meta"):
        teacher = create_model("teacher", "paper", hsi_bands=172, msi_bands=4, qk_norm="none")
        student = create_model("student", "paper", hsi_bands=172, msi_bands=4, qk_norm="none")
        l2_teacher = create_model("teacher", "paper", hsi_bands=172, msi_bands=4)
    assert _n_params(teacher) == 26_807_686
    assert _n_params(student) == 7_449_946
    assert _n_params(l2_teacher) == pytest.approx(26_807_686, rel=0.01)


def test_clra_block_matches_closed_form() -> None:
    nf, gc = 86, 43
    with torch.device("meta"):
        block = CLRABlock(nf, gc)
    weights = 3 * 9 * (nf * nf + 8 * nf * gc + 6 * gc * gc)
    biases = 3 * (4 * gc + nf)
    assert _n_params(block) == weights + biases


@pytest.mark.parametrize(("role", "paper_macs"), [("teacher", 941.77e9), ("student", 144.77e9)])
def test_paper_macs_within_one_percent(role: str, paper_macs: float) -> None:
    c = measure_complexity(model_config(role, "paper", 172, 4), 64, 64)
    assert c.macs == pytest.approx(paper_macs, rel=0.01)


def test_student_is_at_most_a_third_of_teacher_on_cpu_presets() -> None:
    for preset in ("paper", "cpu_small", "cpu_tiny"):
        with torch.device("meta"):
            t = create_model("teacher", preset, hsi_bands=31, msi_bands=3)
            s = create_model("student", preset, hsi_bands=31, msi_bands=3)
        assert _n_params(s) <= _n_params(t) / 3, preset
        assert s.config.nf == t.config.nf, "feature KD needs equal widths"


def test_bad_names_are_rejected_with_choices() -> None:
    with pytest.raises(ValueError, match="Unknown preset 'tiny'; known: paper"):
        create_model("student", "tiny", hsi_bands=B, msi_bands=b)
    with pytest.raises(ValueError, match="Unknown role"):
        create_model("pupil", "test_tiny", hsi_bands=B, msi_bands=b)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown fusion 'avg'; known: csa"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, fusion="avg")
    with pytest.raises(ValueError, match="Unknown model option"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, width=3)
    with pytest.raises(ValueError, match="only 'csa'"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, fusion="sum", degenerate=True)
    with pytest.raises(ValueError, match="groups=3 must divide"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, hsi_groups=3)
    with pytest.raises(ValueError, match="Unknown gate 'relu'; known: sigmoid, softmax"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, gate="relu")
    with pytest.raises(ValueError, match="no stream gate"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, fusion="sum", gate="softmax")


@pytest.mark.parametrize("fusion", ["csa", "concat_attention"])
def test_softmax_gate_keeps_features_when_every_gate_logit_saturates(fusion: str) -> None:
    """The failure seen in training: all four gate logits far below zero switch a sigmoid-gated net off."""
    fused = {}
    for gate in ("sigmoid", "softmax"):
        torch.manual_seed(0)
        net = create_model("teacher", "test_tiny", hsi_bands=B, msi_bands=b, fusion=fusion, gate=gate)
        with torch.no_grad():
            net.fusion.gate.conv.weight.zero_()
            net.fusion.gate.conv.bias.fill_(-40.0)
        lr, msi = _inputs()
        lr.requires_grad_(True)
        features = net.forward_features(lr, msi)
        features.square().sum().backward()
        fused[gate] = (features.detach(), lr.grad)
    features, grad = fused["sigmoid"]
    assert features.abs().max() < 1e-12 and grad.abs().max() < 1e-12
    features, grad = fused["softmax"]
    # equal logits: the average of the four streams, and the LR-HSI still gets a gradient
    assert features.abs().mean() > 1e-3 and grad.abs().max() > 1e-6


def test_config_round_trips_through_dict() -> None:
    cfg = model_config("student", "cpu_small", 31, 3)
    again = FusionNetConfig(**cfg.to_dict())
    assert again == cfg
    assert isinstance(FusionNet(again), FusionNet)


def test_mirror_pad_is_numpy_symmetric_and_rejects_a_pad_beyond_the_image() -> None:
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 2, 3, 4)
    expected = np.pad(x.numpy(), ((0, 0), (0, 0), (2, 2), (2, 2)), mode="symmetric")
    np.testing.assert_array_equal(mirror_pad(x, 2).numpy(), expected)
    assert mirror_pad(x, 0) is x
    with pytest.raises(ValueError, match="at least 4 x 4"):
        mirror_pad(x, 4)


def test_border_pad_equals_the_unpadded_net_on_mirrored_inputs_cropped() -> None:
    """The padded net is the same weights run on a mirrored frame, then cropped: same pixels, no seams."""
    torch.manual_seed(0)
    padded = create_model(
        "student", "test_tiny", hsi_bands=B, msi_bands=b, scale=S, lr_skip=True, border_pad=2
    )
    plain = FusionNet(dataclasses.replace(padded.config, border_pad=0))
    plain.load_state_dict(padded.state_dict())
    lrhsi, hrmsi = _inputs(h=4, w=6)
    with torch.no_grad():
        out = padded.eval()(lrhsi, hrmsi)
        ref = plain.eval()(mirror_pad(lrhsi, 2), mirror_pad(hrmsi, 2 * S))
    assert out.cube.shape == (2, B, 16, 24)
    assert out.features.shape == (2, padded.config.nf, 16, 24)
    torch.testing.assert_close(out.cube, ref.cube[..., 8:-8, 8:-8])
    torch.testing.assert_close(out.features, ref.features[..., 8:-8, 8:-8])
    # zero padding at the frame is what it replaces: the border pixels must differ
    assert not torch.allclose(out.cube[..., :, :4], plain(lrhsi, hrmsi).cube[..., :, :4])
    with pytest.raises(ValueError, match="border_pad"):
        FusionNetConfig(hsi_bands=B, msi_bands=b, border_pad=-1)


def test_low_rank_head_has_10_r_b_mixing_weights_and_excludes_grouping() -> None:
    full = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, scale=S)
    low = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, scale=S, head_rank=2)
    assert _n_params(full) - _n_params(low) == 9 * B * B - 10 * 2 * B
    out = low(*_inputs())
    assert out.cube.shape == (2, B, 16, 24)
    out.cube.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in low.head.parameters())
    with pytest.raises(ValueError, match="head_rank"):
        create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, head_rank=2, head_out_groups=2)


def test_narrow_head_and_reduced_joint_hsi_have_their_weight_counts_and_are_all_trained() -> None:
    nf = model_config("student", "test_tiny", hsi_bands=B, msi_bands=b).nf
    full = create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, scale=S)
    slim = create_model(
        "student", "test_tiny", hsi_bands=B, msi_bands=b, scale=S, head_hidden=2, hsi_reduce=3
    )
    # head: 3x3 nf->B (+bias) and 3x3 B->B become 3x3 nf->2 (+bias) and 3x3 2->B; joint HR entry conv: B + b
    # inputs become 3 + b, paid for by a 1x1 B->3 (+bias) at low resolution
    head = (9 * nf * B + B + 9 * B * B) - (9 * nf * 2 + 2 + 9 * 2 * B)
    joint = 9 * nf * (B - 3) - (3 * B + 3)
    assert _n_params(full) - _n_params(slim) == head + joint
    out = slim(*_inputs())
    assert out.cube.shape == (2, B, 16, 24)
    out.cube.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in slim.parameters())
    # the LR-HSI still reaches the joint HR stream: perturbing one band moves its features
    lrhsi, hrmsi = _inputs()
    moved = lrhsi.clone()
    moved[:, 5] += 0.1
    with torch.no_grad():
        before = slim.body(lrhsi, hrmsi).joint_hr
        after = slim.body(moved, hrmsi).joint_hr
    assert (after - before).abs().max() > 1e-4
    for bad in ({"head_hidden": 2, "head_rank": 2}, {"head_hidden": -1}, {"hsi_reduce": -1}):
        with pytest.raises(ValueError, match="head_hidden|hsi_reduce"):
            create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, **bad)
