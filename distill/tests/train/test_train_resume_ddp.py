"""Subprocess runs: exact resume after SIGKILL, and two-process DDP (gloo) on CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from spectra_distill.train import load_checkpoint

SCRIPT = Path(__file__).with_name("train_synthetic.py")
# one thread per process: identical kernels in every run, and DDP's two ranks fit the CI's cores
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
STEPS = ["--set", "optim.total_steps=24", "--set", "log.ckpt_every=3", "--set", "log.val_every=10"]


def _train(run_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(run_dir), *STEPS, *extra],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _assert_same_weights(a: dict, b: dict) -> None:
    for role in ("teacher", "student"):
        assert a[role].keys() == b[role].keys()
        for key in a[role]:
            assert torch.equal(a[role][key], b[role][key]), f"{role}.{key} differs"


def _checkpoint_step(path: Path) -> int:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=False)["step"])
    except (FileNotFoundError, EOFError, RuntimeError):
        return -1


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    full = _train(tmp_path / "full")
    assert full.returncode == 0, full.stderr[-2000:]

    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(killed_dir), *STEPS],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while _checkpoint_step(killed_dir / "last.pt") < 6 and time.monotonic() < deadline:
        assert proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.02)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    interrupted_at = load_checkpoint(killed_dir / "last.pt")["step"]
    assert 6 <= interrupted_at < 24

    resumed = _train(killed_dir, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(killed_dir / "last.pt")
    assert a["step"] == b["step"] == 24
    _assert_same_weights(a, b)
    for role in ("teacher", "student"):
        assert a["sched"][role]["last_epoch"] == b["sched"][role]["last_epoch"] == 24
    steps = [int(line.split(",")[0]) for line in (killed_dir / "train_log.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps)) == list(range(2, 25, 2))


def test_ddp_two_processes_on_cpu_end_with_identical_weights(tmp_path: Path) -> None:
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(SCRIPT), str(tmp_path), "--dump-rank-weights",
        "--set", "optim.total_steps=3", "--set", "log.val_every=0", "--set", "data.samples_per_epoch=8",
    ]  # fmt: skip
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0_of_2.pt", weights_only=False)
    r1 = torch.load(tmp_path / "rank1_of_2.pt", weights_only=False)
    assert r0["step"] == r1["step"] == 3
    _assert_same_weights(r0, r1)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    _assert_same_weights(r0, ckpt)
    # only rank 0 writes: one log, no second checkpoint family
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == [
        "best.pt",
        "last.pt",
        "rank0_of_2.pt",
        "rank1_of_2.pt",
    ]
