"""`spectra-distill evaluate` end to end on small real CAVE crops with a tiny random checkpoint."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from spectra_distill.baselines.methods import run_baseline
from spectra_distill.cli import main
from spectra_distill.data import load_scenes, load_split, resample_cube, split_scene
from spectra_distill.data.resample import GRIDS
from spectra_distill.data.splits import Window, scene_regions
from spectra_distill.degrade import WaldConfig, make_pair
from spectra_distill.evaluate.regions import group_test_scenes
from spectra_distill.export import export_model, load_checkpoint_model
from spectra_distill.metrics import evaluate, psnr
from spectra_distill.train.config import DataConfig
from spectra_distill.train.data import build_data

BASELINES = ["bicubic", "mtf_glp_hpm"]


@pytest.fixture(scope="module")
def student_onnx(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, ckpt = load_checkpoint_model(tiny_checkpoint, "student")
    out = tmp_path_factory.mktemp("onnx") / "student-tiny.onnx"
    export_model(model, ckpt["card"], out, role="student", parity_checks=((1, (4, 4)),))
    return out


@pytest.fixture(scope="module")
def report(
    tiny_checkpoint: Path, small_root: Path, student_onnx: Path, tmp_path_factory: pytest.TempPathFactory
):
    out = tmp_path_factory.mktemp("eval")
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--onnx", str(student_onnx),
            "--data", str(small_root), "--misregistration", "0,2", "--baselines", *BASELINES,
            "--real-pair", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    return out, json.loads((out / "eval-val.json").read_text())


def test_json_lists_models_onnx_and_baselines_per_dataset(report) -> None:
    _, rep = report
    names = [m["name"] for m in rep["methods"]]
    assert names == ["teacher", "student", "student (onnx)", *BASELINES]
    nets = {m["name"]: m for m in rep["methods"] if m["kind"] != "baseline"}
    assert nets["teacher"]["params"] > nets["student"]["params"] > 0
    assert nets["student (onnx)"]["params"] == nets["student"]["params"]
    assert {r["key"] for r in rep["regions"]} == {"cave_cloth/val#0", "cave_chart_and_stuffed_toy/val#0"}
    aligned = [r for r in rep["per_dataset"] if r["misregistration_px"] == 0]
    assert {(r["dataset"], r["method"]) for r in aligned} == {("cave_kbr", n) for n in names}
    for row in aligned:
        assert row["regions"] == 2
        assert all(np.isfinite(row[k]) for k in ("psnr", "sam", "ergas", "rmse", "ssim", "ms"))
        assert (row["gmacs"] is None) == (row["method"] in BASELINES)
    assert rep["role"] == "val" and rep["split"] == rep["train_split"] == "default"


def test_onnx_scores_as_the_pytorch_student(report) -> None:
    _, rep = report
    rows = {(r["region"], r["method"], r["misregistration_px"]): r for r in rep["results"]}
    for (region, method, shift), row in rows.items():
        if method == "student":
            onnx = rows[(region, "student (onnx)", shift)]
            assert onnx["psnr"] == pytest.approx(row["psnr"], abs=1e-3)
            assert onnx["sam"] == pytest.approx(row["sam"], abs=1e-3)


def test_baseline_scores_match_a_direct_computation(report, small_root: Path) -> None:
    """The reported numbers are the metrics of the held-out region's Wald pair, recomputed here."""
    _, rep = report
    spec = load_split("default")
    cube = load_scenes(small_root, names=["cave_cloth"])[0]
    grid = GRIDS["cave31"]
    region = split_scene(resample_cube(cube, grid.wavelengths, grid.fwhm), spec, "val")[0]
    for shift in (0, 2):
        pair = make_pair(region, WaldConfig(scale=4, msi="rgb", misregistration_px=shift,
                                            srf_dir=str(small_root / "srf")))  # fmt: skip
        expected = evaluate(run_baseline("mtf_glp_hpm", pair), region.data, 4, region.valid, region.band_mask)
        key = ("cave_cloth/val#0", "mtf_glp_hpm", shift)
        (row,) = [r for r in rep["results"] if (r["region"], r["method"], r["misregistration_px"]) == key]
        assert row["psnr"] == pytest.approx(expected.psnr, rel=1e-9)
        assert row["ssim"] == pytest.approx(expected.ssim, rel=1e-9)


def test_misregistration_rows_and_baseline_degrades(report) -> None:
    _, rep = report
    table = {(r["method"], r["misregistration_px"]): r for r in rep["misregistration"]}
    assert {k for _, k in table} == {0, 2}
    assert {m for m, _ in table} == {m["name"] for m in rep["methods"]}
    for name in BASELINES:
        assert table[(name, 2)]["psnr"] < table[(name, 0)]["psnr"] - 0.5
        assert table[(name, 2)]["sam"] > table[(name, 0)]["sam"]


def test_scored_regions_never_touch_training_pixels(report) -> None:
    _, rep = report
    spec = load_split(rep["train_split"])
    for region in rep["regions"]:
        top, left, h, w = region["window"]
        size = {"cave_cloth": (96, 96), "cave_chart_and_stuffed_toy": (80, 80)}[region["scene"]]
        for train in scene_regions(region["scene"], *size, spec)["train"]:
            assert not Window(top, left, h, w).overlaps(train)


def test_writes_markdown_pngs_and_notes_missing_real_pair(report) -> None:
    out, rep = report
    md = (out / "eval-val.md").read_text()
    assert "## cave_kbr (val)" in md and "## Robustness to LR-HSI misregistration" in md
    assert "| student (onnx) |" in md and "PSNR @2px" in md
    assert len(rep["figures"]) == 4  # quicklook + spectra per region
    for rel in rep["figures"]:
        png = out / rel
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f"({rel})" in md
    assert any("real-pair scene `houston2018`" in n for n in rep["notes"])


def test_real_pair_on_houston_is_reported_apart(
    tiny_checkpoint: Path, data_root: Path, tmp_path: Path
) -> None:
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--data", str(data_root), "--role", "test",
            "--misregistration", "0", "--baselines", "bicubic", "--real-pair", "--no-figures",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    rep = json.loads((tmp_path / "eval-test.json").read_text())
    # the whole test scenes of the cave31 group (declared in the split), no region of a trained scene
    tests = group_test_scenes(load_split("default"), ["cave_cloth", "cave_chart_and_stuffed_toy"])
    assert sorted(r["key"] for r in rep["regions"]) == sorted(f"{s}/test#0" for s in tests)
    assert "cave_balloons/test#0" in [r["key"] for r in rep["regions"]]
    real = rep["real_pair"]["per_dataset"]
    assert {(r["dataset"], r["method"]) for r in real} == {
        ("houston2018_crop", m) for m in ("teacher", "student", "bicubic")
    }
    assert all(r["region"] == "houston2018/test#0+real" for r in rep["real_pair"]["results"])
    assert "## Real pair" in (tmp_path / "eval-test.md").read_text()
    assert rep["figures"] == []


def test_split_whose_val_overlaps_training_is_refused(
    tiny_checkpoint: Path, small_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = Path(load_split("default").source).read_text().replace("side: right", "side: left")
    split = tmp_path / "leaky.yaml"
    split.write_text(text)
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--data", str(small_root),
            "--split", str(split), "--no-figures", "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 2
    assert re.search(
        r"DatasetError: .*overlaps the training region .* of split 'default'", capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        (["--misregistration", "0,5"], r"misregistration shifts must be 0-3 HR pixels"),
        (["--checkpoint", "nowhere.pt"], r"CheckpointError: nowhere.pt: checkpoint not found"),
        (["--onnx", "missing.onnx"], r"CheckpointError: missing.card.json: cannot read the model card"),
    ],
)
def test_bad_inputs_exit_2_naming_the_problem(
    tiny_checkpoint: Path,
    small_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra,
    pattern,
) -> None:
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--data", str(small_root), "--no-figures",
            "--out", str(tmp_path), *extra]  # fmt: skip
    assert main(argv) == 2
    assert re.search(pattern, capsys.readouterr().err)


def test_student_scores_equal_the_training_validation_on_whole_regions(
    report, tiny_checkpoint: Path, small_root: Path
) -> None:
    """Evaluation pairs are the training pipeline's clean validation pairs (same grid, SRF, PSF)."""
    _, rep = report
    model, ckpt = load_checkpoint_model(tiny_checkpoint, "student")
    cfg = replace(DataConfig(**ckpt["config"]["data"]), val_crop=None)
    rows = {
        r["scene"]: r for r in rep["results"] if r["method"] == "student" and r["misregistration_px"] == 0
    }
    val = build_data(cfg, seed=0).val
    assert len(val) == len(rows) == 2
    for region in val:
        with torch.no_grad():
            pred = model(region.lrhsi, region.hrmsi).cube[0].numpy()
        expected = psnr(pred, region.hrhsi, region.valid, region.band_mask)
        assert rows[region.name.split("/")[1].split("#")[0]]["psnr"] == pytest.approx(expected, abs=1e-6)
