"""Named points in a run's lifecycle where a test can kill the process.

The fault-injection tests stop a run at each step of its lifecycle, as a
SIGKILL (a cluster's time limit, the OOM killer, a power cut) would, and check
that the next run recovers every finished pset exactly once. A test names the
point in the environment variable ``PSWEEP_CRASH_AT`` (read at import) or sets
:data:`CRASH_AT`; :func:`crash_point` then kills its own process with SIGKILL
when the run gets there. Unset, a crash point costs one comparison.

The points, in the order a run passes them:

``planned``
    the database is read and the psets to run are known; nothing written yet
``backup-copied``
    with ``backup=True``: a backup is copied under its temporary name, not yet
    renamed
``journal-opened``
    the run's journal folder and lock exist, no pset has run
``block-done``
    a block of finished psets came back to the driver (repeats)
``executed``
    every pset finished; the database is not written yet
``temp-file-written``
    a file is written under its temporary name, not yet renamed (at the end
    of a run: the new database)
``database-written``
    the database holds the run's rows; the runs table does not have the run yet
``run-recorded``
    the runs table has the run; its journal is not removed yet
``journal-removed``
    the journal is gone; the git commit (``git=True``) is not made yet
"""

from __future__ import annotations

import os
import signal

from psweep.environment import CRASH_AT_ENV

__all__ = ["CRASH_AT", "CRASH_POINTS", "crash_point"]

CRASH_POINTS = (
    "planned",
    "backup-copied",
    "journal-opened",
    "block-done",
    "executed",
    "temp-file-written",
    "database-written",
    "run-recorded",
    "journal-removed",
)

CRASH_AT: str | None = os.environ.get(CRASH_AT_ENV) or None


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if the test asked for a crash at `name`."""
    if CRASH_AT is not None and name == CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)
