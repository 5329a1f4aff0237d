"""Append-only journals that make each finished pset durable during a run.

A run writes its rows to ``<calc_dir>/.psweep/journal/<run_id>/*.journal``
while it goes on (one file per writing process). On normal completion the
rows are merged into the database and the folder is removed; after a crash the
folder is left, and the next run (or :func:`psweep.recover`) merges it.

File layout: the magic bytes, then frames of ``<u32 length><u32 crc32>`` plus
a pickle. The first frame is the run's header (a dict), each further frame
rows: ``{"psweep-rows-in-columns": (pos, psets, ...)}``, the :class:`ResultRow` fields as one
tuple per field (pickled faster than a tuple per row), or a list of rows (as
older journals, and the rows written one by one, have it). A frame cut short or
with a wrong checksum (a crash in the middle of a write) ends the readable part:
it is skipped with a warning.

Durability: a finished pset's row reaches the operating system (one
``write(2)``, where it survives the death of the process) before the next pset
of that process starts, unless the psets since the last write took less than
:data:`JOURNAL_SYNC_S` (10 ms) together; then it waits for the next write, at
the latest :data:`JOURNAL_FLUSH_S` seconds later (a background thread). So a
kill loses only the psets in flight and less than 10 ms of finished work.

A write that fails (a full disk) loses nothing: the file is cut back to its
last whole frame, the rows stay queued, a warning is logged, and a later write
tries again (after :data:`JOURNAL_RETRY_S` at the soonest, so that a disk that
stays full costs no time per pset). Even the header may wait so: a journal
opened on a full disk is empty until its first write works.
"""

from __future__ import annotations

import collections
import contextlib
import glob
import json
import logging
import math
import os
import pickle
import shutil
import struct
import threading
import time
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

from psweep.errors import PsweepDatabaseError, PsweepJournalWarning
from psweep.host import pid_alive
from psweep.lifecycle.results import ResultRow
from psweep.store.paths import StudyPaths

__all__ = [
    "JOURNAL_FLUSH_S",
    "JOURNAL_RETRY_S",
    "JOURNAL_SYNC_S",
    "JournalWriter",
    "journal_root",
    "journal_run_dirs",
    "read_journal_counts",
    "read_journal_dir",
    "read_journal_header",
    "remove_half_made_journals",
    "remove_run_dir",
    "run_journal_dir",
]

#: Seconds a finished pset's row may wait in memory before the journal writes it
#: (rows of faster psets are written together); a run's end or a signal writes at once.
JOURNAL_FLUSH_S = 0.2
_EXC = ResultRow._fields.index("exc")  # where a row says why its pset failed
JOURNAL_SYNC_S = 0.01
#: Seconds at least between two tries to write rows that a full disk refused (or ten
#: times what the failed try took, if more: each try pickles every row that waits, and
#: the run spends no more than a tenth of its time on them).
JOURNAL_RETRY_S = JOURNAL_FLUSH_S
log = logging.getLogger("psweep")
_MAGIC = b"PSWEEP-JOURNAL-1\n"
_FRAME = struct.Struct("<II")
_MAX_PENDING = 2000
# beside each journal, <journal>.progress: rows and failures up to a byte offset, rewritten
# at most every PROGRESS_S, so that psweep status reads only the tail of a long journal
PROGRESS_SUFFIX = ".progress"
PROGRESS_S = 0.5


def journal_root(calc_dir: str) -> str:
    """The journal root of the study in `calc_dir` (:attr:`StudyPaths.journal_root`)."""
    return StudyPaths(calc_dir).journal_root


def journal_run_dirs(calc_dir: str) -> list[str]:
    """The folders of runs in the journal root of `calc_dir`, sorted by name. Anything
    else there (a file a desktop or a sync tool left, such as ``.DS_Store``) is not a run
    and is left alone."""
    root = journal_root(calc_dir)
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [e.path for e in entries if not e.name.startswith(".") and e.is_dir()]


def run_journal_dir(calc_dir: str, run_id: str) -> str:
    """The journal folder of run `run_id` in `calc_dir` (:meth:`StudyPaths.run_journal`)."""
    return StudyPaths(calc_dir).run_journal(run_id)


_COLUMNS = "psweep-rows-in-columns"  # the key of a frame of rows in columns


def _frame(obj: Any) -> bytes:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


class JournalWriter:
    """Write rows of one process to a journal file, flushing in the background.

    ``add(row)`` queues the row and writes all queued rows as one frame with
    one ``write`` call when :data:`JOURNAL_SYNC_S` has passed since the last
    write (or many rows are queued). A daemon thread writes what is queued
    every :data:`JOURNAL_FLUSH_S` seconds. Rows may land in the file out of
    order; readers sort them.
    """

    def __init__(self, path: str, header: dict, flush_s: float = JOURNAL_FLUSH_S) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._pending: collections.deque = collections.deque()
        self._flush_lock = threading.Lock()
        self._closed = threading.Event()
        self._flush_s = flush_s
        self._last_write = time.perf_counter()
        self._failing: OSError | None = None
        self._retry_at = 0.0  # after a failed write: no new try before this time
        self._head = _MAGIC + _frame(header)  # written now, or before the first rows
        try:
            self._write(self._fd, self._head)
            self._head = b""
        except OSError as exc:  # a full disk: the run goes on, the header waits
            self._failed(exc, 0, 0.0)
        self._n_rows = self._n_failed = 0
        self._record = bool(header.get("record", True)) if isinstance(header, dict) else True
        self._last_exc: Any = None
        self._last_progress = -math.inf
        self._thread = threading.Thread(target=self._loop, name="psweep-journal", daemon=True)
        self._thread.start()

    def add(self, row: Any) -> None:
        self._pending.append(row)  # deque.append is atomic: no lock needed
        now = time.perf_counter()
        if (
            now - self._last_write >= JOURNAL_SYNC_S or len(self._pending) >= _MAX_PENDING
        ) and now >= self._retry_at:
            self.flush(raise_errors=False)

    def flush(self, raise_errors: bool = True) -> None:
        """Write what is queued as one frame; on an OSError keep it queued (and raise)."""
        # one flush at a time (the thread's or add()'s): each takes what is
        # queued now and writes it as one frame
        with self._flush_lock:
            pending = self._pending
            rows = [pending.popleft() for _ in range(len(pending))]
            if not rows:
                return
            if self._fd is None:
                raise ValueError(f"journal {self.path!r} is closed")
            start = time.perf_counter()
            try:
                data = self._frames(rows)
                end = self._write(self._fd, self._head + data if self._head else data)
            except OSError as exc:
                pending.extendleft(reversed(rows))  # nothing lost: try again later
                self._failed(exc, len(pending), time.perf_counter() - start)
                if raise_errors:
                    raise
                return
            self._head = b""
            if self._failing is not None:
                log.warning("journal %s: writing works again", self.path)
                self._failing = None
                self._retry_at = 0.0
            self._last_write = time.perf_counter()
            self._count(rows, end)

    def _failed(self, exc: OSError, n_waiting: int, spent_s: float) -> None:
        """Note a write that failed: warn the first time, and try again not too soon."""
        if self._failing is None:
            log.warning(
                "journal %s: cannot write (%s); %d rows wait in memory and are "
                "written when it works again",
                self.path,
                exc,
                n_waiting,
            )
        self._failing = exc
        self._retry_at = time.perf_counter() + max(JOURNAL_RETRY_S, 10 * spent_s)

    def _count(self, rows: list, end: int) -> None:
        """Keep the counts that ``psweep status`` reads (at most every PROGRESS_S)."""
        self._n_rows += len(rows)
        if self._record:  # only a run with on_error="record" has failed rows
            for row in rows:
                if isinstance(row, tuple) and len(row) > _EXC and row[_EXC] is not None:
                    self._n_failed += 1
                    self._last_exc = row[_EXC]
        if self._last_write - self._last_progress < PROGRESS_S:
            return
        self._last_progress = self._last_write
        summary = {
            "offset": end,
            "n_rows": self._n_rows,
            "n_failed": self._n_failed,
            "last_exc": self._last_exc[-2000:] if isinstance(self._last_exc, str) else None,
        }
        tmp = f"{self.path}.progress.tmp"
        try:
            with open(tmp, "w") as fh:
                json.dump(summary, fh)
            os.replace(tmp, self.path + PROGRESS_SUFFIX)
        except OSError:  # only a shortcut for status: it reads the journal itself without it
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _frames(self, rows: list) -> bytes:
        """The rows as one frame; if one of them cannot be pickled, the others one by one."""
        try:
            return _frame({_COLUMNS: tuple(zip(*rows, strict=True))})
        except OSError:
            raise
        except Exception:
            pass
        good = []
        for row in rows:
            try:
                good.append(_frame([row]))
            except Exception as exc:
                log.error(
                    "journal %s: a row (position %r in the run) cannot be pickled and is not "
                    "journaled (%s: %s)",
                    self.path,
                    row[0] if isinstance(row, tuple) and row else None,
                    type(exc).__name__,
                    exc,
                )
        return b"".join(good)

    @staticmethod
    def _write(fd: int, data: bytes) -> int:
        """Append `data` to the open file `fd` whole or not at all; return the file's size
        after it."""
        start = os.lseek(fd, 0, os.SEEK_END)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            os.ftruncate(fd, start)  # no half frame: later frames stay readable
            raise
        return start + len(data)

    def _loop(self) -> None:
        while not self._closed.wait(self._flush_s):
            if time.perf_counter() >= self._retry_at:
                self.flush(raise_errors=False)

    def close(self) -> None:
        """Write what is queued and close the file (a failing write is logged, not raised:
        the rows are in the caller's hands too, and the database save follows)."""
        if self._fd is None:
            return
        self._closed.set()
        self._thread.join()
        try:
            self.flush(raise_errors=False)
        finally:
            with self._flush_lock:
                os.close(self._fd)
                self._fd = None


def read_journal_counts(path: str) -> tuple[int, int, Any]:
    """Rows, failed rows and the last failure's traceback of one journal file, read fast:
    the counts of its ``.progress`` file plus the frames written after them."""
    n_rows = n_failed = 0
    last_exc = None
    offset = None
    try:
        with open(path + PROGRESS_SUFFIX) as fh:
            summary = json.load(fh)
        offset = int(summary["offset"])
        n_rows, n_failed, last_exc = summary["n_rows"], summary["n_failed"], summary["last_exc"]
    except (OSError, ValueError, KeyError, TypeError):
        offset = None
    if offset is None or offset > os.path.getsize(path):
        n_rows = n_failed = 0
        last_exc = None
        frames = _read_frames(path)
        next(frames, None)  # the header
    else:
        frames = _read_frames(path, offset)
    for batch in frames:
        for row in batch:
            n_rows += 1
            if row[_EXC] is not None:
                n_failed += 1
                last_exc = row[_EXC]
    return n_rows, n_failed, last_exc


def _read_frames(path: str, offset: int | None = None) -> Iterator[Any]:
    with open(path, "rb") as fh:
        if offset is not None:
            head = fh.read(len(_MAGIC))
            fh.seek(offset)
            data = head + fh.read()
        else:
            data = fh.read()
    if not data:
        return  # opened, nothing written yet (a full disk kept even its header out)
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
            except (AttributeError, ImportError) as exc:
                # the frame is whole (its checksum holds): not damage, but a class this
                # program cannot import, e.g. one defined in the driver script's __main__
                raise PsweepDatabaseError(
                    f"journal {path!r} holds rows that this program cannot read ({exc}). "
                    "They are results of a class that the study's driver defines: recover "
                    "them from a program that has it (run the driver again, or import its "
                    "module before ps.recover). The journal is kept as it is"
                ) from exc
            except Exception:
                bad = True
            else:
                if isinstance(obj, dict) and _COLUMNS in obj:  # rows in columns: as rows
                    obj = list(zip(*obj[_COLUMNS], strict=True))
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


def read_journal_dir(run_dir: str, only: str | None = None) -> tuple[dict | None, list]:
    """Return the header and all readable rows of the journals of one run (or of the
    journal file named `only`)."""
    header = None
    rows: list = []
    pattern = glob.escape(only) if only is not None else "*.journal"
    for path in sorted(glob.glob(os.path.join(run_dir, pattern))):
        frames = _read_frames(path)
        first = next(frames, None)
        if first is None:
            continue
        header = header or first
        for batch in frames:
            rows.extend(batch)
    return header, rows


def read_journal_header(run_dir: str) -> dict | None:
    """The header of a run's journal (who wrote it), without reading its rows."""
    for path in sorted(glob.glob(os.path.join(run_dir, "*.journal"))):
        try:
            with open(path, "rb") as fh:
                data = fh.read(len(_MAGIC) + _FRAME.size)
                if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + _FRAME.size:
                    continue
                size, crc = _FRAME.unpack(data[len(_MAGIC) :])
                payload = fh.read(size)
        except OSError:
            continue
        if len(payload) == size and zlib.crc32(payload) == crc:
            try:
                return pickle.loads(payload)
            except Exception:
                continue
    return None


def remove_half_made_journals(paths: StudyPaths) -> None:
    """Remove journal folders that a run killed while it made them left behind (their
    maker is gone; they hold no rows yet: the run had not started a pset)."""
    for path, pid in paths.journals_being_made():
        if pid is not None and not pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)


def remove_run_dir(run_dir: str) -> None:
    shutil.rmtree(run_dir, ignore_errors=True)
