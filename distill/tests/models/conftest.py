"""One torch thread: these tests run tiny tensors, where thread synchronisation on a shared 2-core CI
machine costs more than it saves (about 10x slower with 2 threads under load)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _single_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
