"""Training loop in-process on synthetic scenes: modes, checkpoints, logs, early stop, data order."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from train_synthetic import synthetic_cube, synthetic_data, tiny_config

from spectra_distill.cli import main
from spectra_distill.data.cube import Cube
from spectra_distill.errors import CheckpointError, ConfigError
from spectra_distill.export.card import CardFacts
from spectra_distill.export.model import load_checkpoint_model
from spectra_distill.models import FusionNetConfig
from spectra_distill.train import Trainer, load_checkpoint, make_train_data, run_training
from spectra_distill.train.data import input_statistics
from spectra_distill.train.trainer import EpochBatches


def _weights(state: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.flatten().float() for v in state.values()])


@pytest.fixture(scope="module")
def cotrain_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One short co-training run shared by the checks below (CPU time is scarce)."""
    run_dir = tmp_path_factory.mktemp("cotrain")
    cfg = tiny_config(optim={"total_steps": 6}, log={"log_every": 2, "val_every": 3, "ckpt_every": 4})
    torch.manual_seed(cfg.seed)
    init = Trainer(cfg, synthetic_data(cfg), run_dir / "unused")
    before = {"teacher": init.teacher.state_dict(), "student": init.student.state_dict()}  # type: ignore[union-attr]
    result = run_training(cfg, run_dir, data_factory=synthetic_data)
    assert result.step == 6 and not result.stopped_early
    return run_dir, before


def test_checkpoint_has_the_agreed_keys_and_export_can_rebuild(cotrain_run: tuple[Path, dict]) -> None:
    run_dir, _ = cotrain_run
    ckpt = load_checkpoint(run_dir / "last.pt")
    for key in ("config", "teacher", "student", "model_config", "card", "metrics", "epoch", "step", "optim"):
        assert key in ckpt
    assert ckpt["step"] == 6 and ckpt["epoch"] == 6 // (16 // 2)
    assert set(ckpt["metrics"]) == {"synthetic", "synthetic_b"}
    assert set(ckpt["metrics"]["synthetic"]) == {"psnr", "sam", "ergas"}
    for role in ("teacher", "student"):
        model, _ = load_checkpoint_model(run_dir / "last.pt", role)
        CardFacts.from_dict(ckpt["card"]).check_against(FusionNetConfig(**ckpt["model_config"][role]))
        assert model.config.hsi_bands == 31 and model.config.msi_bands == 3
    card = ckpt["card"]
    assert card["band_valid"][-2:] == [False, False] and all(card["band_valid"][:-2])
    assert card["msi"]["band_names"] == ["R", "G", "B"] and card["psf"]["type"] == "gaussian"
    assert card["value_scale"] == {"synthetic": 65535.0, "synthetic_b": 65535.0}
    assert (run_dir / "best.pt").is_file()
    best = load_checkpoint(run_dir / "best.pt")
    assert best["best"] == max(best["best"], ckpt["best"]) and best["step"] in (3, 6)


def test_cotraining_updates_both_networks(cotrain_run: tuple[Path, dict]) -> None:
    run_dir, before = cotrain_run
    ckpt = load_checkpoint(run_dir / "last.pt")
    for role in ("teacher", "student"):
        assert not torch.equal(_weights(before[role]), _weights(ckpt[role])), role
        assert ckpt["optim"][role]["state"], role


def test_logs_and_resolved_config(cotrain_run: tuple[Path, dict]) -> None:
    run_dir, _ = cotrain_run
    with (run_dir / "train_log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    for name in (
        "l_t_pix",
        "l_t_sam",
        "l_t_band",
        "l_s_pix",
        "l_s_kd_out",
        "l_s_kd_feat",
        "l_s_band",
        "l_s_sam",
    ):
        assert all(float(r[name]) >= 0 for r in rows), name
    with (run_dir / "val_log.csv").open() as f:
        val = list(csv.DictReader(f))
    assert {(int(r["step"]), r["role"]) for r in val} == {
        (s, role) for s in (3, 6) for role in ("student", "teacher")
    }
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["optim"]["total_steps"] == 6 and saved["model"]["preset"] == "test_tiny"


def test_refuses_to_overwrite_a_run(cotrain_run: tuple[Path, dict]) -> None:
    run_dir, _ = cotrain_run
    with pytest.raises(ConfigError, match="pass --resume or choose another --run-dir"):
        run_training(tiny_config(), run_dir, data_factory=synthetic_data)


def test_teacher_mode_then_offline_distillation(tmp_path: Path) -> None:
    teacher_cfg = tiny_config(kd={"mode": "teacher"}, optim={"total_steps": 2}, log={"val_every": 0})
    run_training(teacher_cfg, tmp_path / "t", data_factory=synthetic_data)
    teacher_ckpt = load_checkpoint(tmp_path / "t" / "last.pt")
    assert "student" not in teacher_ckpt and set(teacher_ckpt["optim"]) == {"teacher"}
    with pytest.raises(CheckpointError, match="lacks student"):
        load_checkpoint_model(tmp_path / "t" / "last.pt", "student")

    cfg = tiny_config(
        kd={"mode": "offline", "teacher_checkpoint": str(tmp_path / "t" / "last.pt")},
        optim={"total_steps": 2},
        log={"val_every": 0},
    )
    run_training(cfg, tmp_path / "s", data_factory=synthetic_data)
    ckpt = load_checkpoint(tmp_path / "s" / "last.pt")
    assert torch.equal(_weights(ckpt["teacher"]), _weights(teacher_ckpt["teacher"]))  # frozen
    assert set(ckpt["optim"]) == {"student"} and ckpt["optim"]["student"]["state"]
    with pytest.raises(CheckpointError, match="checkpoint trains \\['student'\\]"):
        run_training(teacher_cfg, tmp_path / "s", resume=True, data_factory=synthetic_data)


def test_student_init_starts_from_a_trained_student_and_checks_its_architecture(
    cotrain_run: tuple[Path, dict], tmp_path: Path
) -> None:
    run_dir, before = cotrain_run
    trained = load_checkpoint(run_dir / "last.pt")["student"]
    assert not torch.equal(_weights(trained), _weights(before["student"]))
    cfg = tiny_config(kd={"student_init": str(run_dir / "last.pt")})
    trainer = Trainer(cfg, synthetic_data(cfg), tmp_path / "fine")
    assert trainer.student is not None
    state = trainer.student.state_dict()
    assert state.keys() == trained.keys()
    for key, value in trained.items():
        assert torch.equal(state[key], value), key
    assert trainer.opt["student"].state == {}  # a fresh optimizer: fine-tuning, not resuming

    wider = tiny_config(kd={"student_init": str(run_dir / "last.pt")}, model={"student": {"head_rank": 2}})
    with pytest.raises(CheckpointError, match="fields differ: head_rank") as info:
        Trainer(wider, synthetic_data(wider), tmp_path / "wide")
    assert str(run_dir / "last.pt") in str(info.value)


def test_a_shipped_students_weights_file_is_the_frozen_teacher_of_its_own_fine_tuning(
    cotrain_run: tuple[Path, dict], tmp_path: Path
) -> None:
    run_dir, _ = cotrain_run
    assert main(["export", "--checkpoint", str(run_dir / "last.pt"), "--out", str(tmp_path / "s.onnx")]) == 0
    shipped = tmp_path / "s.weights.pt"
    assert "teacher" not in load_checkpoint(shipped, required=("student",))
    cfg = tiny_config(
        kd={"mode": "offline", "teacher_checkpoint": str(shipped), "student_init": str(shipped)},
        optim={"total_steps": 2},
        log={"val_every": 0},
    )
    run_training(cfg, tmp_path / "fine", data_factory=synthetic_data)
    ckpt = load_checkpoint(tmp_path / "fine" / "last.pt")
    start = load_checkpoint(shipped, required=("student",))["student"]
    assert torch.equal(_weights(ckpt["teacher"]), _weights(start))  # the anchor stays as shipped
    assert not torch.equal(_weights(ckpt["student"]), _weights(start))  # the student trains
    assert ckpt["model_config"]["teacher"] == ckpt["model_config"]["student"]

    empty = tmp_path / "empty.pt"
    torch.save({"model_config": {}}, empty)
    bad = tiny_config(kd={"mode": "offline", "teacher_checkpoint": str(empty)})
    with pytest.raises(CheckpointError, match="holds neither a teacher nor a student"):
        Trainer(bad, synthetic_data(bad), tmp_path / "bad")


def test_checkpoints_and_cards_keep_the_chain_of_commands(tmp_path: Path) -> None:
    def train(name: str, command: str, resume: bool = False, steps: int = 2, **kd: str) -> list[str]:
        cfg = tiny_config(kd=kd, optim={"total_steps": steps}, log={"val_every": 0})
        run_training(cfg, tmp_path / name, resume=resume, data_factory=synthetic_data, command=command)
        return load_checkpoint(tmp_path / name / "last.pt")["commands"]

    teacher = str(tmp_path / "t" / "last.pt")
    assert train("t", "train teacher", mode="teacher") == ["train teacher"]
    assert train("t", "resume teacher", resume=True, steps=3, mode="teacher") == [
        "train teacher",
        "resume teacher",
    ]
    distil = train("s", "distil", mode="offline", teacher_checkpoint=teacher)
    assert distil == ["train teacher", "resume teacher", "distil"]
    student = str(tmp_path / "s" / "last.pt")
    # the teacher's commands reach it twice, through the teacher and through the initial student
    fine = train("f", "fine-tune", mode="offline", teacher_checkpoint=teacher, student_init=student)
    assert fine == [*distil, "fine-tune"]

    assert (
        main(["export", "--checkpoint", str(tmp_path / "f" / "last.pt"), "--out", str(tmp_path / "s.onnx")])
        == 0
    )
    card = json.loads((tmp_path / "s.card.json").read_text())
    assert card["training"]["command"] == "train teacher && resume teacher && distil && fine-tune"


def test_offline_teacher_with_other_band_counts_is_rejected(tmp_path: Path) -> None:
    cfg = tiny_config(kd={"mode": "teacher"}, optim={"total_steps": 1}, log={"val_every": 0})
    run_training(cfg, tmp_path / "t", data_factory=synthetic_data)
    offline = tiny_config(kd={"mode": "offline", "teacher_checkpoint": str(tmp_path / "t" / "last.pt")})
    src = synthetic_cube(1, 40)
    cube = Cube(src.data[:30], src.wavelengths[:30], provenance=src.provenance)
    data = make_train_data([cube], [cube], offline.data, 0, "synthetic")
    with pytest.raises(CheckpointError, match=r"\(31, 3, 4\); the data needs \(30, 3, 4\)"):
        Trainer(offline, data, tmp_path / "s")


def test_max_minutes_stops_cleanly_with_a_checkpoint(tmp_path: Path) -> None:
    cfg = tiny_config(optim={"total_steps": 50}, log={"val_every": 0, "ckpt_every": 100})
    result = run_training(cfg, tmp_path, max_minutes=1e-9, data_factory=synthetic_data)
    assert result.stopped_early and result.step == 1
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 1


def test_feature_kd_needs_equal_widths(tmp_path: Path) -> None:
    cfg = tiny_config(model={"preset": "test_tiny", "student": {"nf": 12}})
    with pytest.raises(ConfigError, match="teacher nf = 8, student nf = 12"):
        Trainer(cfg, synthetic_data(cfg), tmp_path)


def test_standardised_models_get_the_training_patches_band_statistics(tmp_path: Path) -> None:
    both = {"lr_skip": True, "standardise": True}
    cfg = tiny_config(model={"preset": "test_tiny", "teacher": both, "student": both})
    data = synthetic_data(cfg)
    trainer = Trainer(cfg, data, tmp_path)
    expected = input_statistics(data.train_set)
    assert expected.hsi_std.shape == (31,) and expected.msi_mean.shape == (3,)
    assert not torch.allclose(expected.hsi_mean, torch.full((31,), 0.5))
    for net in (trainer.teacher, trainer.student):
        for got, want in zip(net.input_statistics(), expected, strict=True):  # type: ignore[union-attr]
            torch.testing.assert_close(got, want)
    # a model without the option keeps the paper's fixed mapping
    plain = Trainer(tiny_config(), data, tmp_path / "plain")
    assert torch.equal(plain.student.hsi_mean, torch.full((31,), 0.5))  # type: ignore[union-attr]


def test_bad_model_overrides_name_the_config_key(tmp_path: Path) -> None:
    cfg = tiny_config(model={"preset": "test_tiny", "student": {"nf": 6, "hsi_groups": 3}})
    with pytest.raises(ConfigError, match="model.student: groups=3 must divide nf=6"):
        Trainer(cfg, synthetic_data(cfg), tmp_path)
    cfg = tiny_config(model={"preset": "tiny"})
    with pytest.raises(ConfigError, match="model.teacher: Unknown preset 'tiny'"):
        Trainer(cfg, synthetic_data(cfg), tmp_path)


def test_cuda_request_without_a_gpu_is_named(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    cfg = tiny_config()
    cfg.device = "cuda"
    with pytest.raises(ConfigError, match="no CUDA device"):
        Trainer(cfg, synthetic_data(cfg), tmp_path)


def test_epoch_batches_partition_ranks_and_resume_position() -> None:
    ranks = [list(EpochBatches(4, 2, r, 2, 0)) for r in range(2)]
    flat = sorted(i for batches in ranks for b in batches for i in b)
    assert flat == list(range(16))
    assert ranks[0][0] == [0, 1] and ranks[1][0] == [2, 3]
    assert list(EpochBatches(4, 2, 0, 1, 3)) == [[6, 7]]
