"""Files written whole or not at all: a temporary file beside the target, moved into place.

Every file psweep must never leave half-written (databases, the runs table,
journals' progress, reports, a study's lock) is written with :func:`atomic_open`;
:func:`remove_stale_temp_files` removes what a killed writer left behind. This
sits in the bottom layer so that every layer above writes files the same way.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
from typing import IO

from psweep.crashpoints import crash_point
from psweep.host import pid_alive

__all__ = ["atomic_open", "remove_stale_temp_files"]


@contextlib.contextmanager
def atomic_open(fn: str | os.PathLike, mode: str = "wb", sync: bool = True) -> Iterator[IO]:
    """Open a temporary file beside `fn`, and move it to `fn` when done.

    Readers see either the old file or the complete new one, never a partial
    write. If the block raises, the temporary file is removed and `fn` is left
    as it was. The new file keeps the permissions of the file it replaces (a
    database made private with ``chmod 600`` stays so); a new file gets those
    of the umask. The data reach the disk (fsync) before the move, unless `sync`
    is false: for a file that only copies another, which a reader can check.
    """
    if mode not in ("w", "wb"):
        raise ValueError(
            f"atomic_open() writes whole files, mode must be 'w' or 'wb', got {mode!r}"
        )
    fn = os.fspath(fn)
    dirname = os.path.dirname(fn) or "."
    os.makedirs(dirname, exist_ok=True)
    # the writer's pid in the name tells a later writer whether the file is left over
    prefix = f".{os.path.basename(fn)}.{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(dir=dirname, prefix=prefix, suffix=".tmp")
    try:
        opened: IO = os.fdopen(fd, "wb") if mode == "wb" else os.fdopen(fd, "w", encoding="utf-8")
        with opened as fh:
            yield fh
            fh.flush()
            if sync:  # on disk before it replaces the old file (not for a mere copy)
                os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(fn))
        crash_point("temp-file-written")
        os.replace(tmp, fn)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _mode_for(fn: str) -> int:
    """The permission bits a new version of `fn` gets: the old file's, else the umask's."""
    try:
        return os.stat(fn).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def remove_stale_temp_files(fn: str | os.PathLike, *, all_writers: bool = False) -> list[str]:
    """Remove the temporary files of `fn` that a killed :func:`atomic_open` left behind.

    A file counts as left over when the process named in it is gone; with
    `all_writers` (the caller holds the lock that every writer of `fn` takes),
    every temporary file of `fn` does. Returns the paths removed.
    """
    folder, base = os.path.split(os.fspath(fn))
    pattern = os.path.join(glob.escape(folder or "."), f".{glob.escape(base)}.*.tmp")
    removed = []
    for path in glob.glob(pattern):
        pid = os.path.basename(path)[len(base) + 2 :].split("-", 1)[0]
        if not all_writers and (not pid.isdigit() or pid_alive(int(pid))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed.append(path)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
