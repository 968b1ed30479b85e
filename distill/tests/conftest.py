"""Shared pytest fixtures: the real shared data folder (tests that need it skip cleanly without it), and one
torch thread for every test: the tiny models are overhead-bound, and on a shared 2-core CI machine two OpenMP
threads per process made these tests several times slower."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from spectra_distill.data.descriptors import default_data_root


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data root (``$SPECTRA_DATA`` or ``<repo>/../shared/data``); skips when absent."""
    root = default_data_root()
    if not (root / "SOURCES.md").is_file() and not any(root.glob("*/")):
        pytest.skip(f"shared data not found at {root} (set SPECTRA_DATA to run real-data tests)")
    return root


@pytest.fixture(autouse=True, scope="session")
def _single_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
