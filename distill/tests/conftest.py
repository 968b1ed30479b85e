"""Shared pytest fixtures: the real shared data folder (tests that need it skip cleanly without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spectra_distill.data.descriptors import default_data_root


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data root (``$SPECTRA_DATA`` or ``<repo>/../shared/data``); skips when absent."""
    root = default_data_root()
    if not (root / "SOURCES.md").is_file() and not any(root.glob("*/")):
        pytest.skip(f"shared data not found at {root} (set SPECTRA_DATA to run real-data tests)")
    return root
