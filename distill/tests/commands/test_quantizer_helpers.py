"""`spectra-distill split-pairs` and `device-latency`, the quantizer's host helpers, run as the SDK does."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spectra_distill.cli import main

REPO = Path(__file__).resolve().parents[3]
TINY = REPO / "test" / "fixtures" / "tiny"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
CROPS = {"cave_cloth": 96, "cave_chart_and_stuffed_toy_crop": 80, "cave_balloons_crop": 64}  # prefix -> side

needs_tiny = pytest.mark.skipif(
    not (TINY / "tiny-student.onnx").is_file(), reason=f"no tiny fixture in {TINY}"
)


@pytest.fixture(scope="module")
def cave_root(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CAVE scenes of the default split, cropped small, in the shared layout, plus the SRF tables."""
    root = tmp_path_factory.mktemp("data")
    src, dst = data_root / "cave_kbr", root / "cave_kbr"
    dst.mkdir()
    shutil.copy(src / "cave_bands.csv", dst / "cave_bands.csv")
    for prefix, side in CROPS.items():
        (path,) = sorted(src.glob(f"{prefix}_*x*x31_uint16.npy"))
        cube = np.load(path)[:side, :side]
        np.save(dst / f"{prefix}_{side}x{side}x31_uint16.npy", np.ascontiguousarray(cube))
    (root / "srf").symlink_to(data_root / "srf", target_is_directory=True)
    (root / "unrelated").mkdir()  # an undescribed folder this run does not use: no warning about it
    return root


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny student's card (8 bands, 420-700 nm, RGB, x4), as if trained on CAVE, default split."""
    if not (TINY / "tiny-student.card.json").is_file():
        pytest.skip(f"no tiny fixture in {TINY}")
    doc = json.loads((TINY / "tiny-student.card.json").read_text())
    doc["training"] = {**doc["training"], "datasets": ["cave_kbr"], "split": "default"}
    path = tmp_path_factory.mktemp("model") / "tiny.card.json"
    path.write_text(json.dumps(doc))
    return path


def _inside(window: list[int], region: list[int]) -> bool:
    t, left, h, w = window
    rt, rl, rh, rw = region
    return t >= rt and left >= rl and t + h <= rt + rh and left + w <= rl + rw


def test_split_pairs_writes_train_tiles_and_disjoint_val_regions(
    cave_root: Path, card: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["split-pairs", "--card", str(card), "--data", str(cave_root)]
    train_dir = tmp_path / "train"
    assert main([*common, "--role", "train", "--out", str(train_dir), "--tiles-per-region", "2"]) == 0
    err = capsys.readouterr().err
    train = json.loads((tmp_path / "train" / "regions.json").read_text())
    assert f"wrote {len(train['samples'])} train pairs of split 'default' to {tmp_path / 'train'}" in err
    assert "warning" not in err, "a run warns only about the datasets it uses"
    assert train["split"] == "default" and train["role"] == "train" and train["tile"] == 32
    assert {s["scene"] for s in train["samples"]} == {"cave_cloth", "cave_chart_and_stuffed_toy"}
    for s in train["samples"]:
        assert s["window"][2:] == [32, 32] and _inside(s["window"], s["region"])
        lr = np.load(tmp_path / "train" / f"{s['stem']}.lrhsi.npy")
        hr = np.load(tmp_path / "train" / f"{s['stem']}.hrhsi.npy")
        ms = np.load(tmp_path / "train" / f"{s['stem']}.hrmsi.npy")
        assert (lr.shape, ms.shape, hr.shape) == ((8, 8, 8), (3, 32, 32), (8, 32, 32))
        assert lr.dtype == np.float32 and hr.min() >= 0.0 and hr.max() <= 1.0

    assert main([*common, "--role", "val", "--out", str(tmp_path / "val"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    val = json.loads((tmp_path / "val" / "regions.json").read_text())
    assert val["samples"] and all(s["role"] == "val" for s in val["samples"])
    for v in val["samples"]:
        for t in train["samples"]:
            if v["scene"] == t["scene"]:
                assert not _inside(t["window"], v["region"]), "validation regions hold no training tile"


def test_split_pairs_refuses_a_folder_that_holds_pairs(
    cave_root: Path, card: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.lrhsi.npy").write_bytes(b"")
    argv = ["split-pairs", "--card", str(card), "--data", str(cave_root), "--role", "val"]
    argv += ["--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # the SDK's writeSplitPairs reports the last stderr line
    assert err[-1] == f"error: DatasetError: {tmp_path}: output folder already holds pairs; give an empty one"


def _bench_folder(root: Path) -> Path:
    model = root / "tiny"
    model.mkdir(parents=True)
    for variant in ("fp32", "copy"):
        shutil.copy(TINY / "tiny-student.onnx", model / f"{variant}.onnx")
    for name in ("lrhsi", "hrmsi"):
        np.save(model / f"latency.{name}.npy", np.load(TINY / f"reference-{name}.npy")[0])
    return model


@needs_tiny
def test_device_latency_times_every_kept_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bench_folder(tmp_path / "bench")
    assert main(["device-latency", str(tmp_path / "bench"), "--threads", "1", "--runs", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["runs"] == 2 and report["onnxruntime"]
    assert set(report["models"]["tiny"]) == {"fp32", "copy"}
    for timings in report["models"]["tiny"].values():
        assert set(timings) == {"median_ms_1t"} and timings["median_ms_1t"] > 0


@needs_tiny
def test_device_latency_names_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _bench_folder(tmp_path / "bench")
    (model / "latency.hrmsi.npy").unlink()
    assert main(["device-latency", str(tmp_path / "bench"), "--runs", "1"]) == 2
    assert re.search(r"DatasetError: .*tiny: no latency\.hrmsi\.npy", capsys.readouterr().err)
    assert main(["device-latency", str(tmp_path / "bench"), "--runs", "0"]) == 2
    assert "--runs and --threads must be >= 1; got --runs 0, --threads 1 4" in capsys.readouterr().err


@needs_tiny
def test_device_latency_as_python_dash_m(tmp_path: Path) -> None:
    """How the quantize docs run it: `$SPECTRA_PYTHON -m spectra_distill device-latency ...`."""
    _bench_folder(tmp_path / "bench")
    env = {"PYTHONPATH": str(PACKAGE_ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "spectra_distill", "device-latency", str(tmp_path / "bench"), "--runs", "1"]
    result = subprocess.run([*cmd, "--threads", "1"], env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["models"]["tiny"]["fp32"]["median_ms_1t"] > 0
