"""Loss terms: hand-computed values, band masks, SAM invariances, teacher detachment."""

from __future__ import annotations

import math

import pytest
import torch

from spectra_distill.losses import (
    LOSSES,
    STUDENT_LOSSES,
    TEACHER_LOSSES,
    BandwiseLoss,
    FeatureKDLoss,
    LossSet,
    OutputKDLoss,
    SAMLoss,
    SmoothL1Loss,
    build_loss,
)
from spectra_distill.models import create_model


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    """(1, 2, 1, 2): band 0 has a quadratic-range error, band 1 a linear-range one."""
    pred = torch.tensor([[[[0.0, 0.4]], [[3.0, 0.0]]]])
    gt = torch.tensor([[[[0.2, 0.4]], [[0.5, 0.0]]]])
    return pred, gt


def test_smooth_l1_hand_computed() -> None:
    pred, gt = _pair()
    # elementwise: 0.5 * 0.2^2 = 0.02, 0, |2.5| - 0.5 = 2.0, 0
    assert SmoothL1Loss()(pred, gt).item() == pytest.approx(2.02 / 4)
    assert SmoothL1Loss(weight=2.0, reduction="sum")(pred, gt).item() == pytest.approx(4.04)
    assert SmoothL1Loss()(pred, gt, torch.tensor([1.0, 0.0])).item() == pytest.approx(0.02 / 2)
    none = SmoothL1Loss(reduction="none")(pred, gt, torch.tensor([True, False]))
    assert none.shape == pred.shape and none[0, 1].abs().sum() == 0


def test_bandwise_hand_computed() -> None:
    pred, gt = _pair()
    band0 = (0.02 / 2) / ((0.2 + 0.4) / 2 + 0.1)
    band1 = (2.0 / 2) / ((0.5 + 0.0) / 2 + 0.1)
    assert BandwiseLoss()(pred, gt).item() == pytest.approx((band0 + band1) / 2, rel=1e-6)
    assert BandwiseLoss()(pred, gt, torch.tensor([0.0, 1.0])).item() == pytest.approx(band1, rel=1e-6)
    per = BandwiseLoss(reduction="none")(pred, gt)
    assert per.shape == (1, 2) and per[0, 0].item() == pytest.approx(band0, rel=1e-6)


def test_sam_hand_computed_and_over_band_axis() -> None:
    # pixel 0: (1, 0) vs (1, 1) -> 45 degrees; pixel 1: (0, 2) vs (3, 0) -> 90 degrees
    pred = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]]]])
    gt = torch.tensor([[[[1.0, 3.0]], [[1.0, 0.0]]]])
    per_pixel = SAMLoss(reduction="none")(pred, gt)
    assert per_pixel.shape == (1, 1, 2)
    assert per_pixel[0, 0, 0].item() == pytest.approx(math.pi / 4, abs=1e-6)
    assert per_pixel[0, 0, 1].item() == pytest.approx(math.pi / 2, abs=1e-6)
    assert SAMLoss(weight=0.1)(pred, gt).item() == pytest.approx(0.1 * 3 * math.pi / 8, abs=1e-6)


def test_sam_scale_invariant_and_zero_for_parallel_spectra() -> None:
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(2, 7, 3, 3, generator=g) + 0.05
    gt = torch.rand(2, 7, 3, 3, generator=g) + 0.05
    loss = SAMLoss()
    base = loss(pred, gt).item()
    assert loss(3.0 * pred, gt).item() == pytest.approx(base, rel=1e-5)
    assert loss(pred, 0.25 * gt).item() == pytest.approx(base, rel=1e-5)
    # parallel spectra: only the documented clamp floor acos(1 - 1e-7) remains
    assert loss(2.0 * gt, gt).item() < 1e-3
    assert base > 0.05


def test_sam_masked_band_takes_no_part() -> None:
    pred = torch.tensor([1.0, 0.0, 5.0]).reshape(1, 3, 1, 1)
    gt = torch.tensor([1.0, 1.0, -7.0]).reshape(1, 3, 1, 1)
    masked = SAMLoss()(pred, gt, torch.tensor([1.0, 1.0, 0.0]))
    assert masked.item() == pytest.approx(math.pi / 4, abs=1e-6)


def test_feature_kd_hand_computed() -> None:
    # logits 0 predict 0.5 for any teacher target -> log 2
    teacher = torch.tensor([-3.0, 0.5, 4.0]).reshape(1, 3, 1, 1)
    assert FeatureKDLoss()(torch.zeros(1, 3, 1, 1), teacher).item() == pytest.approx(math.log(2), rel=1e-6)
    x, t = 2.0, 0.0
    s = 1 / (1 + math.exp(-t))
    expected = -(s * math.log(1 / (1 + math.exp(-x))) + (1 - s) * math.log(1 - 1 / (1 + math.exp(-x))))
    got = FeatureKDLoss(weight=0.1)(torch.full((1, 1, 2, 2), x), torch.full((1, 1, 2, 2), t))
    assert got.item() == pytest.approx(0.1 * expected, rel=1e-6)


def test_output_kd_equals_smooth_l1_against_teacher() -> None:
    pred, gt = _pair()
    assert OutputKDLoss()(pred, gt).item() == pytest.approx(SmoothL1Loss()(pred, gt).item())


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_masked_bands_do_not_change_any_band_loss(name: str) -> None:
    g = torch.Generator().manual_seed(1)
    pred, gt = torch.rand(2, 5, 4, 4, generator=g), torch.rand(2, 5, 4, 4, generator=g)
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0])
    term = build_loss({"type": name})
    before = term(pred, gt, mask)
    pred2, gt2 = pred.clone(), gt.clone()
    pred2[:, 2] = 100.0
    gt2[:, 4] = -50.0
    after = term(pred2, gt2, mask)
    if name == "FeatureKDLoss":
        assert not torch.isclose(before, after)  # features have no bands: the mask does not apply
    else:
        assert torch.isclose(before, after, rtol=1e-6)
        assert not torch.isclose(term(pred2, gt2), before)


def test_per_sample_mask_and_all_masked_batch_is_finite() -> None:
    pred, gt = torch.rand(2, 3, 2, 2), torch.rand(2, 3, 2, 2)
    per_sample = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    only_first = SmoothL1Loss()(pred[:1, :1], gt[:1, :1])
    assert SmoothL1Loss()(pred, gt, per_sample).item() == pytest.approx(only_first.item(), rel=1e-6)
    for name in sorted(LOSSES):
        value = build_loss({"type": name})(pred, gt, torch.zeros(3))
        assert torch.isfinite(value)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="Unknown loss 'L3Loss'; known: .*SAMLoss"):
        build_loss({"type": "L3Loss"})
    with pytest.raises(ValueError, match="has no 'type'"):
        build_loss({"weight": 1.0})
    with pytest.raises(ValueError, match="Bad options for loss 'SAMLoss'"):
        build_loss({"type": "SAMLoss", "beta": 2})
    with pytest.raises(ValueError, match="Unknown reduction 'avg'"):
        SmoothL1Loss(reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"band_mask must have shape \(4,\) or \(2, 4\)"):
        SmoothL1Loss()(torch.rand(2, 4, 2, 2), torch.rand(2, 4, 2, 2), torch.ones(3))
    with pytest.raises(ValueError, match="same nf"):
        FeatureKDLoss()(torch.rand(1, 4, 2, 2), torch.rand(1, 8, 2, 2))


def test_default_objectives_match_the_paper() -> None:
    t, s = LossSet(TEACHER_LOSSES, "t"), LossSet(STUDENT_LOSSES, "s")
    assert t.names == ("l_t_pix", "l_t_sam", "l_t_band")
    assert s.names == ("l_s_pix", "l_s_kd_out", "l_s_kd_feat", "l_s_band", "l_s_sam")
    assert [term.weight for term in s.terms] == [1.0, 0.1, 0.1, 0.1, 0.1]
    assert s.needs_teacher and not t.needs_teacher
    with pytest.raises(ValueError, match="needs the teacher's cube"):
        s(torch.rand(1, 2, 2, 2), torch.rand(1, 3, 2, 2), torch.rand(1, 2, 2, 2))


def test_student_loss_sends_no_gradient_to_the_teacher() -> None:
    torch.manual_seed(0)
    teacher = create_model("teacher", "test_tiny", hsi_bands=6, msi_bands=3)
    student = create_model("student", "test_tiny", hsi_bands=6, msi_bands=3)
    lr, msi, gt = torch.rand(2, 6, 4, 4), torch.rand(2, 3, 16, 16), torch.rand(2, 6, 16, 16)
    t_out, s_out = teacher(lr, msi), student(lr, msi)
    total, parts = LossSet(STUDENT_LOSSES, "s")(
        s_out.cube, s_out.features, gt, torch.ones(6), t_out.cube, t_out.features
    )
    total.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
    assert total.item() == pytest.approx(sum(v.item() for v in parts.values()), rel=1e-6)
