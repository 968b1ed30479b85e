from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from spectra_distill.data import Cube, check_split, load_split, split_scene
from spectra_distill.data.resample import GRIDS
from spectra_distill.data.scenes import scene_index
from spectra_distill.data.splits import ROLES, parse_split, scene_regions
from spectra_distill.errors import DatasetError, ScaleError

SPEC = load_split("default")
SIZES = [(100, 100), (83, 86), (50, 50), (192, 160), (256, 256), (150, 150), (64, 64), (17, 40)]


ALL_TRAIN = {"muufl_target_demo"}  # 36 x 36 px: the split trains on all of it (val_region: null)


@pytest.mark.parametrize("scene", sorted(SPEC.scenes))
@pytest.mark.parametrize("size", SIZES)
def test_regions_disjoint_aligned_inside(scene: str, size: tuple[int, int]) -> None:
    h, w = size
    regions = scene_regions(scene, h, w, SPEC)
    windows = [(r, win) for r in ROLES for win in regions[r]]
    for (ra, a), (rb, b) in itertools.combinations(windows, 2):
        assert not a.overlaps(b), f"{scene} {size}: {ra} {a} overlaps {rb} {b}"
    for _, win in windows:
        assert win.top % 8 == win.left % 8 == win.height % 8 == win.width % 8 == 0
        assert win.top + win.height <= h and win.left + win.width <= w
    if SPEC.scenes[scene].role == "train" and min(h, w) >= 64 and scene not in ALL_TRAIN:
        assert regions["train"] and regions["val"]


def test_default_split_shape_of_jasper() -> None:
    r = scene_regions("jasper_ridge", 100, 100, SPEC)
    # bottom quarter -> test (rows 72..96), right quarter of the rest -> val (cols 72..96), rest -> train.
    assert [(w.top, w.left, w.height, w.width) for w in r["test"]] == [(72, 0, 24, 96)]
    assert [(w.top, w.left, w.height, w.width) for w in r["val"]] == [(0, 72, 72, 24)]
    assert [(w.top, w.left, w.height, w.width) for w in r["train"]] == [(0, 0, 72, 72)]


def test_groups_use_known_grids() -> None:
    assert set(SPEC.groups) == {"remote_sensing", "cave31"}
    assert all(g.grid in GRIDS for g in SPEC.groups.values())
    assert SPEC.scenes["houston2018"].real_pair
    assert set(SPEC.scenes_with_role("test")) == {
        "jasper_ridge", "salinas_a", "moffett_field", "enmap_potsdam",
        "samson", "houston2018", "cave_balloons", "abu_airport_1", "abu_airport_2", "abu_urban_4", "abu_urban_5",
        "abu_beach_2", "abu_beach_4_rosis", "san_diego_aviris_i", "hydice_urban", "abu_airport_4", "abu_beach_1",
        "abu_urban_1", "abu_urban_2",
    }  # fmt: skip
    assert "cave_cloth" in SPEC.scenes_with_role("val") and "cave_cloth" not in SPEC.scenes_with_role("test")


def test_every_discovered_scene_in_split(data_root: Path) -> None:
    names = list(scene_index(data_root))
    check_split(SPEC, names)
    assert set(names) == set(SPEC.scenes) | set(SPEC.exclude)
    with pytest.raises(DatasetError, match=r"neither assigns nor excludes scenes \['new_scene'\]"):
        check_split(SPEC, [*names, "new_scene"])


def cube_named(scene: str, h: int, w: int) -> Cube:
    valid = np.ones((h, w), bool)
    valid[0, 0] = False
    return Cube(np.zeros((2, h, w), np.float32), [500.0, 600.0], valid=valid, provenance={"scene": scene})


def test_split_scene_crops_masks_and_pixel_scale() -> None:
    cube = cube_named("jasper_ridge", 100, 100)
    (train,) = split_scene(cube, SPEC, "train")
    assert train.data.shape == (2, 72, 72) and not train.valid[0, 0]
    assert train.provenance["role"] == "train" and train.provenance["window"] == [0, 0, 72, 72]
    (val,) = split_scene(cube, SPEC, "val")
    assert val.provenance["window"] == [0, 72, 72, 24] and val.valid.all()
    hr = cube_named("houston2018", 512, 512)
    (test,) = split_scene(hr, SPEC, "test", pixel_scale=4)
    assert test.data.shape == (2, 512, 512)
    assert split_scene(hr, SPEC, "train", pixel_scale=4) == []
    with pytest.raises(ScaleError, match="pixel_scale 3"):
        split_scene(hr, SPEC, "test", pixel_scale=3)


def test_split_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="excluded from split 'default': partial copy"):
        split_scene(cube_named("cave_balloons_ms_partial", 64, 64), SPEC, "train")
    with pytest.raises(DatasetError, match="not in split 'default'"):
        split_scene(cube_named("mystery", 64, 64), SPEC, "train")
    with pytest.raises(ValueError, match="Unknown role 'dev'"):
        split_scene(cube_named("jasper_ridge", 64, 64), SPEC, "dev")
    with pytest.raises(DatasetError, match="Unknown split 'nope'; packaged: default"):
        load_split("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenes: {a: {role: train}}\nval_region: {side: middle, fraction: 0.2}\n")
    with pytest.raises(DatasetError, match=r"bad\.yaml.*side 'middle' unknown"):
        load_split(bad)
    with pytest.raises(DatasetError, match="need a reason"):
        parse_split({"scenes": {}, "exclude": {"x": ""}}, tmp_path / "s.yaml")
    with pytest.raises(DatasetError, match="both assigned and excluded"):
        parse_split({"scenes": {"x": {"role": "test"}}, "exclude": {"x": "why"}}, tmp_path / "s.yaml")


def test_custom_split_left_and_top(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nalign: 4\ntest_region: {side: top, fraction: 0.25}\n"
        "val_region: {side: left, fraction: 0.5}\nscenes: {a: {role: train}}\n"
    )
    r = scene_regions("a", 40, 40, load_split(path))
    assert [(w.top, w.left, w.height, w.width) for w in r["test"]] == [(0, 0, 12, 40)]
    assert [(w.top, w.left, w.height, w.width) for w in r["val"]] == [(12, 0, 28, 20)]
    assert [(w.top, w.left, w.height, w.width) for w in r["train"]] == [(12, 20, 28, 20)]
