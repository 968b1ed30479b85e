"""Collapse guard: a network whose validation PSNR collapses is rolled back to its best state."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn
from train_synthetic import synthetic_data, tiny_config

from spectra_distill.errors import ConfigError
from spectra_distill.train import Trainer
from spectra_distill.train.optim import build_optimizer
from spectra_distill.train.recovery import CollapseGuard


def _linear_with_optimizer() -> tuple[nn.Linear, torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    opt, sched = build_optimizer(model.parameters(), tiny_config().optim, "teacher_scheduler")
    model(torch.randn(3, 4)).sum().backward()
    opt.step()  # Adam moments exist, so the optimizer snapshot is not empty
    sched.step()
    return model, opt, sched


def test_small_drops_are_kept_and_a_collapse_restores_the_best_state() -> None:
    model, opt, sched = _linear_with_optimizer()
    guard = CollapseGuard(drop_db=3.0, lr_factor=0.5)
    best = {k: v.clone() for k, v in model.state_dict().items()}
    best_moment = opt.state[model.weight]["exp_avg"].clone()
    assert guard.update("teacher", 10, 30.0, model, opt, sched) is None
    with torch.no_grad():
        model.weight.mul_(1e6)
    opt.state[model.weight]["exp_avg"].fill_(7.0)
    lr_before, base_before = opt.param_groups[0]["lr"], sched.base_lrs[0]

    assert guard.update("teacher", 20, 27.5, model, opt, sched) is None  # 2.5 dB: normal noise
    assert model.weight.abs().max() > 1e3

    event = guard.update("teacher", 30, 22.9, model, opt, sched)
    assert event is not None and event.role == "teacher" and event.best_step == 10
    assert event.best_psnr == 30.0 and event.psnr == 22.9 and "step 10" in event.describe()
    for k, v in model.state_dict().items():
        assert torch.equal(v, best[k])
    assert torch.equal(opt.state[model.weight]["exp_avg"], best_moment)
    assert opt.param_groups[0]["lr"] == pytest.approx(lr_before * 0.5)
    assert sched.base_lrs[0] == pytest.approx(base_before * 0.5)
    sched.step()  # the schedule continues from the halved peak
    factor = sched.lr_lambdas[0](sched.last_epoch)
    assert opt.param_groups[0]["lr"] == pytest.approx(base_before * 0.5 * factor)


def test_non_finite_scores_collapse_and_an_off_guard_does_nothing() -> None:
    model, opt, sched = _linear_with_optimizer()
    guard = CollapseGuard(drop_db=3.0, lr_factor=0.25)
    assert guard.update("student", 1, math.nan, model, opt, sched) is None  # no best yet: nothing to restore
    guard.update("student", 2, 25.0, model, opt, sched)
    event = guard.update("student", 3, math.nan, model, opt, sched)
    assert event is not None and event.lr_scale == 0.25

    off = CollapseGuard(drop_db=None, lr_factor=0.5)
    off.update("student", 1, 30.0, model, opt, sched)
    with torch.no_grad():
        model.weight.fill_(5.0)
    assert off.update("student", 2, 0.0, model, opt, sched) is None
    assert torch.all(model.weight == 5.0)


def test_trainer_rolls_back_a_collapsed_teacher_and_records_it(tmp_path: Path) -> None:
    # lr_skip: an untrained network already sits at bilinear quality, so a collapse is a clear drop
    skip = {"lr_skip": True}
    cfg = tiny_config(log={"val_every": 0}, model={"teacher": skip, "student": skip})
    trainer = Trainer(cfg, synthetic_data(cfg), tmp_path / "run")
    trainer.run_dir.mkdir()
    trainer._validate_and_select(None)
    teacher_best = {k: v.clone() for k, v in trainer.teacher.state_dict().items()}
    student_now = {k: v.clone() for k, v in trainer.student.state_dict().items()}  # type: ignore[union-attr]
    base_lr = trainer.sched["teacher"].base_lrs[0]
    with torch.no_grad():  # a diverged teacher
        trainer.teacher.head.body[2].weight.mul_(1e3)
    trainer.step = 7
    trainer._validate_and_select(None)

    assert [r["role"] for r in trainer.recoveries] == ["teacher"]
    assert trainer.recoveries[0]["step"] == 7 and trainer.recoveries[0]["best_step"] == 0
    for k, v in trainer.teacher.state_dict().items():
        assert torch.equal(v, teacher_best[k]), k
    for k, v in trainer.student.state_dict().items():  # type: ignore[union-attr]
        assert torch.equal(v, student_now[k]), k
    assert trainer.sched["teacher"].base_lrs[0] == pytest.approx(base_lr * cfg.optim.collapse_lr_factor)
    assert trainer.state(0)["recoveries"] == trainer.recoveries


@pytest.mark.parametrize("override", [{"collapse_db": 0.0}, {"collapse_lr_factor": 1.5}])
def test_bad_guard_settings_are_named(override: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match=f"optim.{next(iter(override))}"):
        tiny_config(optim=override)
