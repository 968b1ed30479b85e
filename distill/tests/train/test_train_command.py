"""`spectra-distill train` on the shared CAVE data (tiny model, two steps) and its error reporting."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from spectra_distill.cli import main
from spectra_distill.train import load_checkpoint

OPTIONS = Path(__file__).resolve().parents[2] / "spectra_distill" / "options"
TINY = [
    "--set", "model.preset=test_tiny",
    "--set", "optim.total_steps=2",
    "--set", "data.patch_size=32",
    "--set", "data.batch_size=2",
    "--set", "data.val_crop=32",
    "--set", "log.val_every=0",
    "--set", "log.log_every=1",
]  # fmt: skip


def test_trains_on_real_cave_regions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    # CAVE regions only (the experiment also pools airborne scenes), plus two synthetic scenes, which train but
    # are never validated on
    cave_only = ["--set", "data.datasets=[cave_kbr]", "--set", "data.synthetic_scenes=2"]
    code = main(
        [
            "train",
            "--config",
            str(OPTIONS / "cave31_rgb_x4_physics.yaml"),
            *TINY,
            *cave_only,
            "--run-dir",
            str(run_dir),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)  # stdout holds the summary alone; diagnostics go to stderr
    assert summary["step"] == 2 and not summary["stopped_early"]
    # the shared root holds undescribed folders (anomaly sets, tiles) this run never loads: not its business
    assert "warning" not in captured.err, captured.err
    assert set(summary["metrics"]) == {"cave_kbr"}
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert torch.load(run_dir / "last.pt", weights_only=True).keys() == ckpt.keys()
    np.testing.assert_allclose(ckpt["card"]["wavelengths"], np.arange(400, 701, 10))
    assert ckpt["card"]["datasets"] == ["cave_kbr"] and ckpt["card"]["split"] == "default"
    assert ckpt["model_config"]["student"]["hsi_bands"] == 31
    assert any((run_dir / "tb").iterdir())  # TensorBoard events
    # resume from the run dir alone, with more steps
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--set", "optim.total_steps=3"]) == 0
    resumed = load_checkpoint(run_dir / "last.pt")
    assert resumed["step"] == 3
    # both invocations, as one could paste them, for the model card
    first, second = resumed["commands"]
    assert first.startswith("spectra-distill train --config ") and f"--run-dir {run_dir}" in first
    assert second == f"spectra-distill train --run-dir {run_dir} --resume --set optim.total_steps=3"


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--set", "data.grid=cave99"], r"Unknown band grid 'cave99'; known: vnir_swir_10nm, cave31"),
        (["--set", "data.datasets=[nowhere]"], r"Unknown scene or dataset 'nowhere'"),
        (["--set", "optim.lr=fast"], r"cave31_rgb_x4.yaml: optim.lr = 'fast'; expected float"),
        (["--max-minutes", "0"], r"--max-minutes must be > 0"),
    ],
)
def test_bad_runs_exit_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], pattern: str
) -> None:
    argv = [
        "train",
        "--config",
        str(OPTIONS / "cave31_rgb_x4.yaml"),
        *TINY,
        "--run-dir",
        str(tmp_path),
        *args,
    ]
    assert main(argv) == 2
    assert re.search(pattern, capsys.readouterr().err)
