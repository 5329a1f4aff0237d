"""File locks that keep concurrent writers of one database from losing rows."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import filelock

from psweep.errors import PsweepLockError

__all__ = ["DEFAULT_LOCK_TIMEOUT_S", "database_lock", "try_lock"]

DEFAULT_LOCK_TIMEOUT_S = 600.0


@contextlib.contextmanager
def database_lock(
    lock_path: str | os.PathLike, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` for a read-modify-write of a database.

    Waits up to `timeout_s` seconds for another process to release it, then
    raises :class:`PsweepLockError` naming the lock file.
    """
    os.makedirs(os.path.dirname(os.fspath(lock_path)) or ".", exist_ok=True)
    lock = filelock.FileLock(lock_path, thread_local=False)
    try:
        lock.acquire(timeout=timeout_s)
    except filelock.Timeout as exc:
        raise PsweepLockError(
            f"could not lock {os.fspath(lock_path)!r} within {timeout_s} s: another "
            "process is writing this database. Wait for it, or, if no psweep process "
            "is running, check the file system (the lock is released when its process "
            "ends)"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def try_lock(lock_path: str | os.PathLike, timeout_s: float = 0.0) -> filelock.BaseFileLock | None:
    """Take the lock at `lock_path`, waiting at most `timeout_s` (default: not at all);
    None if another process holds it."""
    lock = filelock.FileLock(lock_path, thread_local=False)
    try:
        lock.acquire(timeout=timeout_s)
    except filelock.Timeout:
        return None
    return lock
