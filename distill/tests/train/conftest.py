"""Training tests run single-threaded: the tiny models are overhead-bound, and on a shared 2-core CI runner
two spinning OpenMP threads per process slow every test several-fold."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
