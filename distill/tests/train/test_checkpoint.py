"""Checkpoints are plain data: weights-only `torch.load` reads them, resume stays exact, legacy files load."""

from __future__ import annotations

import dataclasses
import enum
import logging
import random
import shutil
from collections import OrderedDict, namedtuple
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from train_synthetic import synthetic_data, tiny_config

import spectra_distill.train.trainer as trainer_module
from spectra_distill.export.model import load_checkpoint_model
from spectra_distill.train import load_checkpoint, run_training, save_checkpoint
from spectra_distill.train.checkpoint import rng_state, set_rng_state, to_plain

STEPS = 4


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, Path]]:
    """An uninterrupted co-training run of STEPS steps, keeping a copy of every checkpoint it writes."""
    root = tmp_path_factory.mktemp("full")
    snapshots: dict[int, Path] = {}
    write = trainer_module.save_checkpoint

    def keeping(state: dict[str, Any], path: Path) -> None:
        write(state, path)
        snapshots[int(state["step"])] = shutil.copy(path, root / f"step{state['step']}.pt")

    cfg = tiny_config(optim={"total_steps": STEPS}, log={"ckpt_every": 2, "val_every": 2})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer_module, "save_checkpoint", keeping)
        run_training(cfg, root / "run", data_factory=synthetic_data)
    assert sorted(snapshots) == [2, STEPS]
    return root / "run", snapshots


def _assert_same_training_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["step"] == b["step"] == STEPS
    for role in ("teacher", "student"):
        assert a[role].keys() == b[role].keys()
        for key in a[role]:
            assert torch.equal(a[role][key], b[role][key]), f"{role}.{key} differs"
        sa, sb = a["optim"][role]["state"], b["optim"][role]["state"]
        assert sa.keys() == sb.keys()
        for idx in sa:
            for name, value in sa[idx].items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(sb[idx][name])), f"{role} {name}"
        assert a["sched"][role] == b["sched"][role]


def _resume_from(snapshot: Path, run_dir: Path) -> dict[str, Any]:
    run_dir.mkdir()
    shutil.copy(snapshot, run_dir / "last.pt")
    cfg = tiny_config(optim={"total_steps": STEPS}, log={"ckpt_every": 2, "val_every": 2})
    run_training(cfg, run_dir, resume=True, data_factory=synthetic_data)
    return load_checkpoint(run_dir / "last.pt")


def test_training_checkpoints_load_weights_only(full_run: tuple[Path, dict[int, Path]]) -> None:
    run_dir, _ = full_run
    for name in ("last.pt", "best.pt"):
        ckpt = torch.load(run_dir / name, map_location="cpu", weights_only=True)
        assert {"teacher", "student", "optim", "sched", "scaler", "rng", "card", "config"} <= set(ckpt)
        assert ckpt["optim"]["student"]["state"], "optimizer moments are stored, not only weights"
        assert isinstance(ckpt["rng"]["numpy"]["state"]["key"], torch.Tensor)


def test_resume_from_a_weights_only_checkpoint_is_exact(
    full_run: tuple[Path, dict[int, Path]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run_dir, snapshots = full_run
    torch.load(snapshots[2], weights_only=True)  # the file resumed from is itself weights-only
    with caplog.at_level(logging.WARNING, logger="spectra_distill"):
        resumed = _resume_from(snapshots[2], tmp_path / "resumed")
    assert not [r for r in caplog.records if "legacy" in r.getMessage()]
    _assert_same_training_state(load_checkpoint(run_dir / "last.pt"), resumed)


def _legacy_rng(rng: dict[str, Any]) -> dict[str, Any]:
    """The RNG state in the form checkpoints stored before they were plain (tuples and a NumPy array)."""
    version, internal, gauss = rng["python"]
    np_state = rng["numpy"]
    return {
        **rng,
        "python": (version, tuple(internal), gauss),
        "numpy": (
            np_state["bit_generator"],
            np_state["state"]["key"].numpy().astype(np.uint32),
            np_state["state"]["pos"],
            np_state["has_gauss"],
            np_state["gauss"],
        ),
    }


def test_legacy_checkpoints_still_load_and_resume_exactly_with_a_warning(
    full_run: tuple[Path, dict[int, Path]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run_dir, snapshots = full_run
    state = torch.load(snapshots[2], weights_only=True)
    state["rng"] = _legacy_rng(state["rng"])
    state["metrics"] = {k: {m: np.float64(v) for m, v in d.items()} for k, d in state["metrics"].items()}
    legacy = tmp_path / "legacy.pt"
    torch.save(state, legacy)  # as the old save_checkpoint did: no conversion
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(legacy, weights_only=True)

    with caplog.at_level(logging.WARNING, logger="spectra_distill"):
        model, ckpt = load_checkpoint_model(legacy, "student")
    assert ckpt["step"] == 2 and isinstance(model, torch.nn.Module)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "legacy checkpoint" in warnings[0] and str(legacy) in warnings[0]

    resumed = _resume_from(legacy, tmp_path / "resumed")
    _assert_same_training_state(load_checkpoint(run_dir / "last.pt"), resumed)
    torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)  # saving again upgraded the file


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached Gaussian in NumPy's state
    save_checkpoint({"rng": rng_state()}, tmp_path / "rng.pt")
    expected = (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    got = (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3))
    assert got[:2] == expected[:2] and torch.equal(got[2], expected[2])


class _Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class _Facts:
    path: Path
    values: np.ndarray
    scale: np.float32


_Pair = namedtuple("_Pair", "lo hi")


def test_to_plain_converts_what_weights_only_loading_refuses(tmp_path: Path) -> None:
    sd = torch.nn.Linear(2, 2).state_dict()
    state = {
        "facts": _Facts(Path("/data/x"), np.arange(3, dtype=np.uint16), np.float32(0.5)),
        "colour": _Colour.RED,
        "pair": _Pair(1, np.int64(2)),
        "tags": {"b", "a"},
        "betas": (0.9, 0.999),
        "weights": sd,
        Path("key"): True,
    }
    save_checkpoint(state, tmp_path / "x.pt")
    got = torch.load(tmp_path / "x.pt", weights_only=True)
    assert got["facts"]["path"] == "/data/x" and got["facts"]["scale"] == 0.5
    assert got["facts"]["values"].dtype == torch.uint16 and got["facts"]["values"].tolist() == [0, 1, 2]
    assert got["colour"] == "red" and got["pair"] == {"lo": 1, "hi": 2} and got["tags"] == ["a", "b"]
    assert got["betas"] == (0.9, 0.999) and got["key"] is True
    assert isinstance(got["weights"], OrderedDict) and got["weights"]._metadata == sd._metadata
    torch.nn.Linear(2, 2).load_state_dict(got["weights"])


def test_to_plain_names_an_object_it_cannot_store(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"checkpoint\.card\.fn: cannot store a function"):
        to_plain({"card": {"fn": lambda: 0}})
    with pytest.raises(TypeError):
        save_checkpoint({"x": object()}, tmp_path / "x.pt")
    assert not list(tmp_path.iterdir()), "nothing written when the state has no plain form"
