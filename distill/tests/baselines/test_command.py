from __future__ import annotations

import json
from pathlib import Path

import pytest

from spectra_distill.cli import main
from spectra_distill.data import default_data_root


def test_baselines_command_on_real_scene(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = default_data_root()
    if not (root / "moffett_field").is_dir() or not (root / "srf").is_dir():
        pytest.skip(f"shared data not found at {root}")
    out = tmp_path / "b"
    argv = [
        "baselines",
        "--datasets",
        "moffett_field",
        "--msi",
        "rgb",
        "s2_6",
        "--methods",
        "bicubic",
        "sfim",
    ]
    assert main([*argv, "--out", str(out)]) == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    rows = {(r["msi"], r["method"]): r for r in doc["results"]}
    assert set(rows) == {("rgb", "bicubic"), ("rgb", "sfim")}
    assert rows[("rgb", "sfim")]["psnr"] > rows[("rgb", "bicubic")]["psnr"]
    # Moffett's (uncertain) wavelengths stop at 2275 nm, short of Sentinel-2 B12
    assert any("B12" in s["reason"] and s["msi"] == "s2_6" for s in doc["skipped"])
    md = out.with_suffix(".md").read_text()
    assert (
        md.startswith("# Classical baselines")
        and "Regenerate: `spectra-distill baselines --grid native --scale 4 --msi rgb s2_6" in md
    )


def test_baselines_command_on_model_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = default_data_root()
    if not (root / "moffett_field").is_dir() or not (root / "srf").is_dir():
        pytest.skip(f"shared data not found at {root}")
    out = tmp_path / "g"
    argv = [
        "baselines",
        "--grid",
        "split",
        "--datasets",
        "moffett_field",
        "--msi",
        "s2_6",
        "--methods",
        "bicubic",
    ]
    assert main([*argv, "--out", str(out)]) == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    # on the 400-2450 nm model grid, bands beyond Moffett's range are masked: B12 loses part of its response
    assert [r["msi"] for r in doc["results"]] == ["s2_6"]
    lost = doc["srf_lost_fraction"][0]["bands"]
    assert 0 < lost["B12"] < 0.5 and lost["B2"] == 0
