"""Exceptions raised by psweep.

Every exception is a :class:`PsweepError` and also an instance of the builtin
that describes the kind of mistake (``ValueError``, ``TypeError``, ...), so
callers can catch either.
"""

from __future__ import annotations

__all__ = [
    "PgridError",
    "PsweepDatabaseError",
    "PsweepError",
    "PsweepFormatError",
    "PsweepGitError",
    "PsweepHashError",
    "PsweepJournalWarning",
    "PsweepLockError",
    "PsweepParamsError",
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


class PsweepGitError(PsweepError, RuntimeError):
    """A git operation requested with ``git=True`` failed."""


class PsweepLockError(PsweepError, TimeoutError):
    """A database lock could not be taken in time."""


class PsweepJournalWarning(UserWarning):
    """A journal of an interrupted run had a damaged part, which was skipped."""
