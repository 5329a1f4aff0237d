"""Exceptions raised by psweep.

Every exception is a :class:`PsweepError` and also an instance of the builtin
that describes the kind of mistake (``ValueError``, ``TypeError``, ...), so
callers can catch either.
"""

from __future__ import annotations

import errno
import os
import subprocess
from typing import Any

__all__ = [
    "PgridError",
    "PsweepCommandError",
    "PsweepDatabaseError",
    "PsweepDiskFullError",
    "PsweepError",
    "PsweepFormatError",
    "PsweepFuncError",
    "PsweepGitError",
    "PsweepHashError",
    "PsweepJournalWarning",
    "PsweepLockError",
    "PsweepParamsError",
    "PsweepPinError",
    "PsweepStudyError",
    "PsweepTemplateError",
    "PsweepTemplateRepoError",
    "PsweepTerminated",
    "PsweepTimeout",
    "PsweepUnknownCommandError",
    "PsweepUpdateError",
    "PsweepWorkerError",
    "error_line",
    "is_disk_full",
]


class PsweepError(Exception):
    """Base class of all errors raised by psweep."""


class PsweepParamsError(PsweepError, ValueError, AssertionError):
    """Parameters (psets, plists, options) are malformed.

    Also an ``AssertionError``: psweep 0.7.0 and 0.16 signalled these mistakes
    with ``assert``, and scripts written for them catch that.
    """


class PgridError(PsweepParamsError):
    """Wrong call of :func:`psweep.pgrid`."""


class PsweepHashError(PsweepError, TypeError):
    """A pset holds a value that cannot be hashed reproducibly."""


class PsweepDatabaseError(PsweepError, ValueError):
    """A database file cannot be read or written."""


class PsweepFormatError(PsweepDatabaseError):
    """The database's format (JSON, Parquet) cannot hold a value; the file is untouched."""


class PsweepDiskFullError(PsweepError, OSError):
    """A file could not be written: no space is left on its device (or the disk quota is
    used up).

    An ``OSError`` with the ``errno`` of the cause (``ENOSPC`` or ``EDQUOT``) and
    ``filename``, the file that was not written; the message says what was kept and
    what to do. A run that stops so gives the caller its rows: ``rows``, the run's rows
    that are not in the database file (a DataFrame, empty if the file has them), and
    ``df``, the database with them (what the run would have returned).
    """

    def __init__(
        self,
        message: str,
        filename: str,
        errno_: int | None = errno.ENOSPC,
        *,
        rows: Any = None,
        df: Any = None,
    ) -> None:
        code = errno_ if errno_ is not None else errno.ENOSPC
        super().__init__(code, os.strerror(code), filename)
        self.message = message
        self.rows = rows
        self.df = df

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple:
        return (
            _disk_full_error,
            (type(self), self.message, self.filename, self.errno, self.rows, self.df),
        )


def _disk_full_error(cls: type, message: str, filename: str, code: int, rows: Any, df: Any) -> Any:
    return cls(message, filename, code, rows=rows, df=df)


_DISK_FULL = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None
)


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` says that a device has no space left (or a disk quota is used up)."""
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


class PsweepGitError(PsweepError, RuntimeError):
    """A git operation requested with ``git=True`` failed."""


class PsweepLockError(PsweepError, TimeoutError):
    """A database lock could not be taken in time."""


class PsweepJournalWarning(UserWarning):
    """A journal of an interrupted run had a damaged part, which was skipped."""


class PsweepTimeout(PsweepError, TimeoutError):
    """A pset ran longer than the run's ``timeout_s``."""


class PsweepWorkerError(PsweepError, RuntimeError):
    """A pool worker process died (a crash in C code, os._exit, a kill) while it ran a pset."""


class PsweepFuncError(PsweepError, TypeError):
    """`func` returned something other than a dict."""


class PsweepTemplateRepoError(PsweepError, RuntimeError):
    """The study template of a psweep version cannot be found or put into git."""


class PsweepStudyError(PsweepError, RuntimeError):
    """A study repository could not be created."""


class PsweepPinError(PsweepError, RuntimeError):
    """The study's packages could not be pinned (no wheel of psweep, no lock)."""


class PsweepCommandError(PsweepError, subprocess.CalledProcessError):
    """A command run by :func:`system` exited with a non-zero status.

    A :class:`subprocess.CalledProcessError` whose message ends with the
    command's output, so the reason shows in a traceback.
    """

    def __str__(self) -> str:
        text = super().__str__()
        out = self.output
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        if out:
            tail = out[-2000:]
            text = f"{text}\noutput:\n{tail}"
        return text


class PsweepUpdateError(PsweepError, RuntimeError):
    """A study cannot be updated (no template source, uncommitted changes, ...)."""


class PsweepTemplateError(PsweepError, ValueError):
    """A template or a machine folder is not usable."""


class PsweepUnknownCommandError(PsweepError, KeyError):
    """A name that is no command of psweep (psweep.cli.commands.command_parser)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""  # the message, not KeyError's repr of it


def error_line(exc_text: Any) -> str | None:
    """The line of a traceback that says what went wrong (its last non-empty one)."""
    if not isinstance(exc_text, str):
        return None
    lines = [line.strip() for line in exc_text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else None


class PsweepTerminated(KeyboardInterrupt):
    """A run got SIGTERM (e.g. a cluster's time limit): it saves what finished, then stops.

    A ``KeyboardInterrupt``, not a :class:`PsweepError`: like Ctrl-C, it ends the
    program unless caught.
    """
