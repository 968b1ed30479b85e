"""MAC/parameter counting and the `flops` command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from spectra_distill.commands import flops
from spectra_distill.errors import ConfigError, ScaleError
from spectra_distill.models import create_model, model_config
from spectra_distill.models.complexity import measure_complexity, per_pixel_complexity, time_cotraining_step


def test_sum_fusion_macs_equal_conv_arithmetic() -> None:
    # No attention, no gate: every MAC is a conv, so the count has a closed form.
    cfg = model_config("student", "test_tiny", 8, 3, fusion="sum", num_blocks=(0, 0, 0, 0))
    h = w = 4
    hr = h * w * 16
    nf, B, b = cfg.nf, 8, 3
    expected = (
        9 * (B + b) * nf * hr  # joint HR entry conv
        + 9 * (B + b) * nf * h * w  # joint LR entry conv
        + 9 * b * nf * hr  # MSI entry conv
        + 9 * B * nf * h * w  # HSI entry conv
        + 9 * nf * B * hr  # head conv 1
        + 9 * B * B * hr  # head conv 2
        # bilinear LR-HSI for the joint HR stream (layers.upsample): a 5-tap pass per row phase, then a
        # 5-tap pass per column phase
        + B * (5 * 4 * h * w + 5 * hr)
    )
    c = measure_complexity(cfg, h, w)
    assert c.macs == expected
    assert c.params == sum(
        p.numel()
        for p in create_model(
            "student", "test_tiny", 8, 3, fusion="sum", num_blocks=(0, 0, 0, 0)
        ).parameters()
    )


def test_macs_scale_linearly_with_pixels() -> None:
    cfg = model_config("teacher", "test_tiny", 8, 3)
    small, large = measure_complexity(cfg, 4, 4), measure_complexity(cfg, 8, 12, batch=2)
    assert large.macs == small.macs * 12
    assert large.macs_per_hr_pixel == small.macs_per_hr_pixel


def test_the_mirror_frame_costs_per_image_and_is_left_out_of_the_per_pixel_figure() -> None:
    # the frame's MACs are the frameless count at the padded size (a 4 x 6 LR image computes as 8 x 10), less
    # the head's on the frame it does not see: it runs on the image and `reach` HR px around it
    framed = model_config("student", "test_tiny", 8, 3, border_pad=2)
    plain = model_config("student", "test_tiny", 8, 3)
    head = create_model("student", "test_tiny", 8, 3).head
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        head(torch.zeros(1, head.body[0].in_channels, 1, 1))
    per_pixel = counter.get_total_flops() // 2
    reach = head.reach
    assert reach == 2
    unseen = 32 * 40 - (16 + 2 * reach) * (24 + 2 * reach)
    assert measure_complexity(framed, 4, 6).macs == measure_complexity(plain, 8, 10).macs - per_pixel * unseen
    assert per_pixel_complexity(framed) == measure_complexity(plain, 16, 16)


def test_flops_command_writes_json(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    flops.add_arguments(parser)
    out = tmp_path / "c.json"
    args = parser.parse_args(
        ["--preset", "test_tiny", "--bands", "8", "--msi-bands", "3", "--size", "16", "--json", str(out)]
    )
    assert flops.run(args) == 0
    report = json.loads(out.read_text())
    expected = measure_complexity(model_config("student", "test_tiny", 8, 3), 4, 4)
    assert report["student"]["params"] == expected.params
    assert report["student"]["macs"] == expected.macs
    assert report["teacher"]["macs"] > report["student"]["macs"]
    with pytest.raises(ScaleError, match="--size 18 must be a multiple of --scale 4"):
        flops.run(parser.parse_args(["--preset", "test_tiny", "--size", "18"]))


def test_flops_command_takes_the_experiments_model_overrides(tmp_path: Path) -> None:
    experiment = tmp_path / "e.yaml"
    experiment.write_text("model:\n  preset: test_tiny\n  student: {head_out_groups: 8, lr_skip: true}\n")
    parser = argparse.ArgumentParser()
    flops.add_arguments(parser)
    out = tmp_path / "c.json"
    common = ["--bands", "8", "--msi-bands", "3", "--size", "16", "--json", str(out)]
    assert flops.run(parser.parse_args(["--config", str(experiment), *common])) == 0
    report = json.loads(out.read_text())
    grouped = model_config("student", "test_tiny", 8, 3, head_out_groups=8, lr_skip=True)
    assert report["preset"] == "test_tiny"
    assert report["student"]["params"] == measure_complexity(grouped, 4, 4).params
    assert (
        report["teacher"]["params"]
        == measure_complexity(model_config("teacher", "test_tiny", 8, 3), 4, 4).params
    )
    rank = ["--set", "model.student.head_out_groups=1", "--set", "model.student.head_rank=2"]
    assert flops.run(parser.parse_args(["--config", str(experiment), *rank, *common])) == 0
    low_rank = model_config("student", "test_tiny", 8, 3, head_rank=2, lr_skip=True)
    assert json.loads(out.read_text())["student"]["params"] == measure_complexity(low_rank, 4, 4).params
    with pytest.raises(ConfigError, match="--config"):
        flops.run(parser.parse_args([*rank, *common]))


def test_cotraining_timing_runs_and_rejects_unequal_widths() -> None:
    t = model_config("teacher", "test_tiny", 8, 3)
    s = model_config("student", "test_tiny", 8, 3)
    timing = time_cotraining_step(t, s, hr_size=16, batch=1, iters=1, warmup=0)
    assert timing.teacher_ms > 0 and timing.student_ms > 0
    with pytest.raises(ValueError, match="equal widths"):
        time_cotraining_step(t, model_config("student", "test_tiny", 8, 3, nf=4, gc=4, hsi_groups=4))
