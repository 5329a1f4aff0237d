"""A small real file system that runs full: a tmpfs mounted for one test (needs root).

from disk_utils import small_disk, fill_disk

``small_disk(path)`` mounts a 2 MB tmpfs at `path` and unmounts it when done; where
``mount`` fails (not root, no tmpfs) the test is skipped with the reason, never passed.
``fill_disk(filler)`` writes the file `filler` until its file system has no room left.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SIZE = "2m"


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[Path]:
    """A tmpfs of :data:`SIZE` at `path` (made), unmounted at the end."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {proc.stderr.strip() or proc.returncode}")
    try:
        yield path
    finally:
        # a process that still has a file open there (a pool worker ending) makes it
        # busy: then detach it now, and the kernel frees it once the last one is gone
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill_disk(filler: str | os.PathLike, leave_bytes: int = 0) -> None:
    """Append to `filler` until its file system has about `leave_bytes` free (or none)."""
    st = os.statvfs(os.path.dirname(os.path.abspath(filler)))
    todo = st.f_bavail * st.f_frsize - leave_bytes
    chunk = b"\0" * 65536
    try:
        with open(filler, "ab") as fh:
            while todo > 0:
                fh.write(chunk[: min(todo, len(chunk))])
                todo -= len(chunk)
            fh.flush()
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise


def free_bytes(path: str | os.PathLike) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
