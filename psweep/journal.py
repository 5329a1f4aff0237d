"""Append-only journals that make each finished pset durable during a run.

A run writes its rows to ``<calc_dir>/.psweep/journal/<run_id>/*.journal``
while it goes on (one file per writing process). On normal completion the
rows are merged into the database and the folder is removed; after a crash the
folder is left, and the next run (or :func:`psweep.recover`) merges it.

File layout: the magic bytes, then frames of ``<u32 length><u32 crc32>`` plus
a pickle. The first frame is the run's header (a dict), each further frame a
list of rows. A frame cut short or with a wrong checksum (a crash in the
middle of a write) ends the readable part: it is skipped with a warning.

Rows reach the operating system (where they survive the death of the process)
at most :data:`JOURNAL_FLUSH_S` seconds after their pset finished: a
background thread writes pending rows at that interval.
"""

from __future__ import annotations

import collections
import glob
import os
import pickle
import shutil
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

from .errors import PsweepJournalWarning

__all__ = [
    "JOURNAL_FLUSH_S",
    "JournalWriter",
    "journal_root",
    "read_journal_dir",
    "remove_run_dir",
    "run_journal_dir",
]

JOURNAL_FLUSH_S = 0.2
_MAGIC = b"PSWEEP-JOURNAL-1\n"
_FRAME = struct.Struct("<II")
_MAX_PENDING = 2000


def journal_root(calc_dir: str) -> str:
    return os.path.join(calc_dir, ".psweep", "journal")


def run_journal_dir(calc_dir: str, run_id: str) -> str:
    return os.path.join(journal_root(calc_dir), run_id)


def _frame(obj: Any) -> bytes:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


class JournalWriter:
    """Write rows of one process to a journal file, flushing in the background.

    ``add(row)`` is cheap: it queues the row. A daemon thread writes queued
    rows every :data:`JOURNAL_FLUSH_S` seconds as one frame with one ``write``
    call (so they reach the OS); ``add`` also writes when many rows are queued.
    Rows may land in the file out of order; readers sort them.
    """

    def __init__(self, path: str, header: dict, flush_s: float = JOURNAL_FLUSH_S) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(self._fd, _MAGIC + _frame(header))
        self._pending: collections.deque = collections.deque()
        self._flush_lock = threading.Lock()
        self._closed = threading.Event()
        self._flush_s = flush_s
        self._thread = threading.Thread(target=self._loop, name="psweep-journal", daemon=True)
        self._thread.start()

    def add(self, row: Any) -> None:
        self._pending.append(row)  # deque.append is atomic: no lock needed
        if len(self._pending) >= _MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        # one flush at a time (the thread's or add()'s): each takes what is
        # queued now and writes it as one frame; add() itself never waits
        with self._flush_lock:
            pending = self._pending
            rows = [pending.popleft() for _ in range(len(pending))]
            if not rows:
                return
            if self._fd is None:
                raise ValueError(f"journal {self.path!r} is closed")
            view = memoryview(_frame(rows))
            while view:
                view = view[os.write(self._fd, view) :]

    def _loop(self) -> None:
        while not self._closed.wait(self._flush_s):
            self.flush()

    def close(self) -> None:
        """Write what is queued and close the file."""
        if self._fd is None:
            return
        self._closed.set()
        self._thread.join()
        self.flush()
        with self._flush_lock:
            os.close(self._fd)
            self._fd = None


def _read_frames(path: str) -> Iterator[Any]:
    with open(path, "rb") as fh:
        data = fh.read()
    if not data.startswith(_MAGIC):
        warnings.warn(
            f"journal {path!r} does not start like a psweep journal; skipped",
            PsweepJournalWarning,
            stacklevel=3,
        )
        return
    pos = len(_MAGIC)
    while pos < len(data):
        head = data[pos : pos + _FRAME.size]
        bad = len(head) < _FRAME.size
        if not bad:
            size, crc = _FRAME.unpack(head)
            payload = data[pos + _FRAME.size : pos + _FRAME.size + size]
            bad = len(payload) < size or zlib.crc32(payload) != crc
        if not bad:
            try:
                obj = pickle.loads(payload)
            except Exception:
                bad = True
        if bad:
            warnings.warn(
                f"journal {path!r}: skipped a damaged tail of {len(data) - pos} bytes at "
                f"byte {pos} (a write cut short by a crash); rows before it are kept",
                PsweepJournalWarning,
                stacklevel=3,
            )
            return
        yield obj
        pos += _FRAME.size + size


def read_journal_dir(run_dir: str) -> tuple[dict | None, list]:
    """Return the header and all readable rows of the journals of one run."""
    header = None
    rows: list = []
    for path in sorted(glob.glob(os.path.join(run_dir, "*.journal"))):
        frames = _read_frames(path)
        first = next(frames, None)
        if first is None:
            continue
        header = header or first
        for batch in frames:
            rows.extend(batch)
    return header, rows


def remove_run_dir(run_dir: str) -> None:
    shutil.rmtree(run_dir, ignore_errors=True)
