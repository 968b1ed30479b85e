"""`spectra-distill data`: the inspection table over a small real data root."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from spectra_distill.cli import main


def test_lists_scenes_with_sizes_scales_and_split_regions(
    small_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "--data", str(small_root)]) == 0
    out = capsys.readouterr().out
    assert f"Data root: {small_root.resolve()}; split `default`" in out
    assert (
        "| cave_cloth | cave_kbr | 31 (31) | 96 x 96 | 65535 | 100.0 % | 400-700 | train [cave31] | " in out
    )
    assert "train 96x72; val 96x24 |" in out
    assert "| cave_balloons | cave_kbr | 31 (31) | 64 x 64 |" in out and "test [cave31] | test 64x64 |" in out
    assert "Other folders: srf (srf)" in out


def test_json_flags_an_unassigned_scene(
    small_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    shutil.copytree(small_root / "cave_kbr", root / "cave_kbr")
    extra = root / "my_scene"
    extra.mkdir()
    cube = np.full((16, 8, 5), 200, np.uint16)
    np.save(extra / "my_scene_16x8x5.npy", cube)
    (extra / "my_scene_bands.csv").write_text(
        "band,wavelength_nm\n" + "".join(f"{i},{500 + 10 * i}\n" for i in range(5))
    )
    (root / "notes").mkdir()  # nothing recognisable: listed, not loaded
    assert main(["data", "--data", str(root), "--json"]) == 0
    captured = capsys.readouterr()
    assert f"warning: {extra}: no descriptor; auto-described as 1 scene(s)" in captured.err
    rep = json.loads(captured.out)
    assert {"folder": "notes", "kind": "unrecognised"} in rep["other"]
    rows = {r["scene"]: r for r in rep["scenes"]}
    assert set(rows) == {
        "cave_cloth",
        "cave_chart_and_stuffed_toy",
        "cave_balloons",
        "my_scene_my_scene_16x8x5",
    }
    mine = rows["my_scene_my_scene_16x8x5"]  # auto-described: <folder>_<file stem>
    assert (mine["bands"], mine["height"], mine["width"]) == (5, 16, 8)
    assert mine["role"] == "unassigned" and mine["wavelengths_nm"] == [500.0, 540.0]
    assert rows["cave_chart_and_stuffed_toy"]["regions"] == {"train": [[80, 56]], "val": [[80, 24]]}


def test_missing_root_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "--data", str(tmp_path / "nowhere")]) == 2
    assert "Data root is not a folder" in capsys.readouterr().err
