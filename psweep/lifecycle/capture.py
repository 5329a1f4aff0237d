"""Capture what a pset prints: ``capture_logs`` of :func:`psweep.run`.

Output is caught at the level of file descriptors 1 and 2, so what
subprocesses, ``os.system`` and compiled code write is caught as well as
Python's ``print``; both streams go to one file, in the order of writing.
``"file"`` writes straight to ``<calc_dir>/<_pset_id>/logs.txt`` (watch it
with ``tail -f`` while the pset runs); ``"db"`` keeps the text for the
``_logs`` column; ``"db+file"`` does both.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from psweep.errors import PsweepParamsError

__all__ = ["CAPTURE_LOGS_CHOICES", "LOGS_BASENAME", "LOGS_COLUMN", "capture", "check_capture_logs"]

CAPTURE_LOGS_CHOICES = ("db", "file", "db+file")
LOGS_BASENAME = "logs.txt"
LOGS_COLUMN = "_logs"

# file descriptors belong to the process: one capture at a time (dask runs psets in threads)
_LOCK = threading.Lock()


def check_capture_logs(value: Any) -> str | None:
    """Return `value` if it is a valid ``capture_logs``; else raise naming it."""
    if value is None or value is False:
        return None
    if value not in CAPTURE_LOGS_CHOICES:
        raise PsweepParamsError(
            f"capture_logs={value!r} is not one of {', '.join(map(repr, CAPTURE_LOGS_CHOICES))} "
            "(or None: capture nothing)"
        )
    return value


def _flush_c_stdio() -> None:
    """Flush the C library's stdio buffers, so compiled code's output lands in order."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)


class Captured:
    """The text a pset wrote; ``text`` is set when the capture ends."""

    text: str = ""


@contextlib.contextmanager
def capture(mode: str, calc_dir: str, pset_id: str) -> Iterator[Captured]:
    """Send fds 1 and 2 (and ``sys.stdout``/``sys.stderr``) to one file while the block runs."""
    out = Captured()
    with _LOCK:
        if "file" in mode:
            folder = os.path.join(calc_dir, pset_id)
            os.makedirs(folder, exist_ok=True)
            fh = open(os.path.join(folder, LOGS_BASENAME), "w+b", buffering=0)  # noqa: SIM115
        else:
            fh = tempfile.TemporaryFile("w+b", buffering=0)  # noqa: SIM115
        with fh:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            _flush_c_stdio()
            saved = [os.dup(1), os.dup(2)]
            # Python's writes go through this unbuffered wrapper onto the same file,
            # so they interleave with a subprocess's writes in the order they happen
            text = io.TextIOWrapper(
                os.fdopen(os.dup(fh.fileno()), "wb", buffering=0),
                encoding="utf-8",
                errors="backslashreplace",
                write_through=True,
            )
            try:
                os.dup2(fh.fileno(), 1)
                os.dup2(fh.fileno(), 2)
                with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                    try:
                        yield out
                    finally:
                        _flush_c_stdio()
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in saved:
                    os.close(fd)
                text.close()
                if "db" in mode:  # also when func raised: its output tells why
                    fh.seek(0)
                    out.text = fh.read().decode("utf-8", errors="backslashreplace")
