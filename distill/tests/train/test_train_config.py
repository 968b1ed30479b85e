"""Experiment configs: YAML loading, --set overrides, validation errors naming key and file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spectra_distill.errors import ConfigError
from spectra_distill.train import TrainConfig, load_config, save_config
from spectra_distill.train.optim import LRFactor, lr_factor

OPTIONS = Path(__file__).resolve().parents[2] / "spectra_distill" / "options"


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("path", sorted(OPTIONS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_experiments_load(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.name == path.stem
    # every experiment co-trains (CSAKD), except the fast students, distilled from a co-trained teacher, and
    # the shipped student's fine-tuning with other cameras, anchored to itself
    offline = path.stem.endswith(("_fast", "_cameras"))
    assert cfg.kd.mode == ("offline" if offline else "cotrain")
    if path.stem.endswith("_fast"):
        assert cfg.kd.teacher_checkpoint and cfg.kd.teacher_checkpoint.startswith("runs/")
    if path.stem.endswith("_cameras"):
        assert cfg.kd.teacher_checkpoint == cfg.kd.student_init
        assert cfg.kd.student_init and (OPTIONS.parents[2] / cfg.kd.student_init).is_file()
        assert cfg.data.msi_camera_prob > 0 and cfg.data.msi_cameras
    assert cfg.data.scale == 4


def test_expected_experiments_exist() -> None:
    names = {p.stem for p in OPTIONS.glob("*.yaml")}
    assert {
        "cave31_rgb_x4",
        "rs_vnir_swir_s2_4_x4",
        "cave31_rgb_x4_paper_gpu",
        "rs_vnir_swir_s2_4_x4_paper_gpu",
    } <= names


def test_overrides_nested_list_and_types(tmp_path: Path) -> None:
    path = _write(tmp_path, {"name": "x", "optim": {"lr": 1}})
    cfg = load_config(
        path,
        [
            "optim.total_steps=50",
            "data.datasets=[jasper_ridge, salinas_a]",
            "kd.student_losses.1.weight=0.25",
            "optim.grad_clip=null",
            "model.student.nf=16",
            "optim.weight_decay=1e-4",
        ],
    )
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    # PyYAML reads an exponent without a dot as a string
    assert cfg.optim.weight_decay == pytest.approx(1e-4)
    assert cfg.optim.total_steps == 50
    assert cfg.data.datasets == ["jasper_ridge", "salinas_a"]
    assert cfg.kd.student_losses[1] == {"type": "OutputKDLoss", "weight": 0.25}
    assert cfg.model.student == {"nf": 16}


def test_saved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, {"name": "y", "seed": 5}), ["kd.mode=teacher"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg
    assert TrainConfig(name="y", seed=5).optim == cfg.optim


@pytest.mark.parametrize(
    ("raw", "overrides", "pattern"),
    [
        ({"optim": {"learning_rate": 1}}, [], r"unknown key\(s\) optim.learning_rate; known: lr"),
        ({}, ["data.batch_size=two"], r"data.batch_size = 'two'; expected int"),
        ({}, ["kd.mode=online"], r"kd.mode = 'online'; expected one of cotrain, offline, teacher"),
        ({}, ["kd.mode=offline"], r"needs kd.teacher_checkpoint"),
        ({}, ["kd.mode=teacher", "kd.student_init=x.pt"], r"student_init is set but kd.mode = 'teacher'"),
        ({}, ["data.patch_size=30"], r"data.patch_size = 30 is not a multiple of data.scale = 4"),
        ({}, ["kd.student_losses.0.type=L3Loss"], r"kd.student_losses\[0\]: Unknown loss 'L3Loss'"),
        ({}, ["kd.student_losses.9.weight=1"], r"kd.student_losses.9 is not an index below 5"),
        ({}, ["optim.student_scheduler.type=poly"], r"student_scheduler.type = 'poly'"),
        ({}, ["amp=fp8"], r"amp = 'fp8'"),
        ({}, ["optim.total_steps"], r"--set expects key.path=value"),
        ({"log": 3}, [], r"log must be a mapping"),
        ({}, ["kd.teacher_losses=[]"], r"kd.teacher_losses: LossSet 't' needs at least one loss term"),
        ({}, ["kd.student_losses.0.reduction=none"], r"SmoothL1Loss in a training objective needs reduction"),
        ({}, ["threads=0"], r"threads = 0; expected >= 1 or null"),
        ({}, ["data.region_power=-0.5"], r"data.region_power = -0.5; expected >= 0"),
    ],
)
def test_bad_configs_name_key_and_file(tmp_path: Path, raw: dict, overrides: list[str], pattern: str) -> None:
    path = _write(tmp_path, raw)
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(path, overrides)
    assert str(info.value).startswith(f"{path}: ")


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match=f"{bad}: cannot parse config"):
        load_config(bad)


def test_schedules_hand_computed() -> None:
    cfg = TrainConfig().optim
    cfg.total_steps, cfg.warmup_steps, cfg.lr = 110, 10, 1e-3
    cosine = lr_factor({"type": "cosine", "eta_min": 1e-4}, cfg, "teacher_scheduler")
    assert cosine(0) == pytest.approx(0.1)  # warm-up: (0 + 1) / 10
    assert cosine(10) == pytest.approx(1.0)
    assert cosine(60) == pytest.approx(0.1 + 0.9 * 0.5)  # half way through the cosine
    assert cosine(110) == pytest.approx(0.1)
    step = LRFactor("step", 100, 0, step_size=20, gamma=0.9)
    assert [step(s) for s in (0, 19, 20, 45)] == pytest.approx([1.0, 1.0, 0.9, 0.81])
    with pytest.raises(ConfigError, match="gamma do not apply to a 'cosine' schedule"):
        lr_factor({"type": "cosine", "gamma": 0.5}, cfg, "teacher_scheduler")
