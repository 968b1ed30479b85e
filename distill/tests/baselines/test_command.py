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
        and "Regenerate: `spectra-distill baselines --scale 4 --msi rgb s2_6 --split default" in md
    )
