from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

SHARED_SRF = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "srf"


def write_srf_csv(path: Path, centres: dict[str, float], width: float = 20.0) -> Path:
    """A synthetic SRF table on a 1 nm grid, 400-1000 nm, Gaussian bands."""
    wl = np.arange(400.0, 1001.0)
    cols = [np.exp(-0.5 * ((wl - c) / width) ** 2) for c in centres.values()]
    table = np.column_stack([wl, *cols])
    header = "wavelength_nm," + ",".join(centres)
    np.savetxt(path, table, delimiter=",", header=header, comments="", fmt="%.8g")
    return path


@pytest.fixture
def make_srf_csv() -> Callable[..., Path]:
    return write_srf_csv


@pytest.fixture
def srf_dir(tmp_path: Path) -> Path:
    write_srf_csv(tmp_path / "synthetic.csv", {"B": 470.0, "G": 550.0, "R": 650.0, "NIR": 850.0})
    return tmp_path


@pytest.fixture
def shared_srf() -> Path:
    if not (SHARED_SRF / "nikon_d700_srf.csv").is_file():
        pytest.skip(f"shared SRF data not found at {SHARED_SRF}")
    return SHARED_SRF
