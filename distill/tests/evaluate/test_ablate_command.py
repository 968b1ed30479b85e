"""`spectra-distill ablate`: variants trained on one budget, scored on the same unseen scenes, runs kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from spectra_distill.cli import main
from spectra_distill.commands.ablate import read_spec
from spectra_distill.errors import ConfigError

OPTIONS = Path(__file__).resolve().parents[2] / "spectra_distill" / "options"
TINY = [
    "model.preset=test_tiny", "optim.total_steps=2", "data.patch_size=16", "data.batch_size=2",
    "data.val_crop=32", "log.val_every=2", "log.tensorboard=false", "data.datasets=[cave_kbr]",
    "data.synthetic_scenes=0",
]  # fmt: skip


def _write(tmp_path: Path, root: Path, **changes: object) -> Path:
    spec = {
        "experiment": str(OPTIONS / "cave31_rgb_x4_physics.yaml"),
        "set": [*TINY, f"data.root={root}"],
        "cases": ["nominal", "raw units (x1000)"],
        "runs": str(tmp_path / "runs"),
        "out": str(tmp_path / "out"),
        "variants": [
            {"name": "reference", "removes": "nothing"},
            {"name": "no consistency", "removes": "back-projection",
             "set": ["model.student.consistency_steps=0", "model.teacher.consistency_steps=0"]},
        ],
    }  # fmt: skip
    spec.update(changes)
    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_ablation_trains_each_variant_once_and_scores_all(tmp_path: Path, small_root: Path) -> None:
    path = _write(tmp_path, small_root)
    assert main(["ablate", "--config", str(path), "--data", str(small_root)]) == 0
    result = json.loads((tmp_path / "out" / "ablation.json").read_text())
    summary = {s["variant"]: s for s in result["summary"]}
    assert list(summary) == ["reference", "no consistency"]
    # the variant really lacks what it says: its student's config has no consistency steps
    cfg = yaml.safe_load((tmp_path / "runs" / "no-consistency" / "config.yaml").read_text())
    assert cfg["model"]["student"]["consistency_steps"] == 0
    # scored on the same scenes, under both cases, against the classical methods
    rows = result["rows"]
    scenes = {r["scene"] for r in rows}
    assert scenes and all(
        {r["scene"] for r in rows if r["method"] == m and r["case"] == c} == scenes
        for m in ("reference", "no consistency", "cnmf") for c in ("nominal", "raw units (x1000)")
    )  # fmt: skip
    nominal = {r["method"]: r["psnr"] for r in rows if r["case"] == "nominal"}
    assert summary["no consistency"]["psnr"]["nominal"] == pytest.approx(nominal["no consistency"])
    md = (tmp_path / "out" / "ablation.md").read_text()
    assert "| no consistency | back-projection |" in md and "Δ vs reference" in md
    # a second run keeps the finished runs (no retraining) and rewrites the same summary
    stamp = (tmp_path / "runs" / "reference" / "last.pt").stat().st_mtime_ns
    assert main(["ablate", "--config", str(path), "--data", str(small_root)]) == 0
    assert (tmp_path / "runs" / "reference" / "last.pt").stat().st_mtime_ns == stamp
    again = json.loads((tmp_path / "out" / "ablation.json").read_text())
    assert again["summary"] == result["summary"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cases": ["nominal", "sideways"]}, "unknown case 'sideways'; known: nominal"),
        ({"cases": ["noise 30 dB"]}, "must include 'nominal'"),
        ({"variants": [{"name": "a", "removes": "x"}, {"name": "A", "removes": "y"}]}, "distinct names"),
        ({"variants": [{"name": "a"}]}, "needs a name and what it removes"),
    ],
)
def test_bad_ablation_files_are_named(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_spec(_write(tmp_path, tmp_path, **changes))


def test_unknown_variant_lists_the_known_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, tmp_path)
    assert main(["ablate", "--config", str(path), "--variants", "nope"]) == 2
    assert "unknown variant(s) 'nope'; known: reference, no consistency" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_subset_without_train_only_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, tmp_path)
    assert main(["ablate", "--config", str(path), "--variants", "reference"]) == 2
    assert "scoring needs every variant: add --train-only" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
