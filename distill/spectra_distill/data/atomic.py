"""Atomic file replacement, so a reader never sees a half-written cube or header."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on clean exit it replaces ``path`` in one rename.

    The temporary file lives in the same folder so ``os.replace`` stays on one filesystem (a rename
    across filesystems is a copy, which is not atomic). It is created with mode 0o666 minus the umask,
    unlike ``tempfile.mkstemp`` (0o600), so the final file gets normal permissions. On error it is removed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
