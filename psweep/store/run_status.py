"""A run's status, in one vocabulary for the runner, the journal header, the runs table
and ``psweep status``.

A run records one of :data:`RUN_STATUSES` in its runs table row (and, while it goes
on, in its journal header): :data:`RUNNING` from its start, then :data:`OK`,
:data:`FAILED` (an exception stopped it) or :data:`INTERRUPTED` (Ctrl-C, SIGTERM,
or recovered from the journal of a run that crashed). ``psweep status`` shows one of
:data:`RUN_STATES`: a recorded status as :func:`state_of`, and :data:`CRASHED` for a
journal whose writer is gone. The values are plain text, as stored on disk.
"""

from __future__ import annotations

__all__ = [
    "CRASHED",
    "FAILED",
    "FINISHED",
    "INTERRUPTED",
    "OK",
    "RUNNING",
    "RUN_STATES",
    "RUN_STATUSES",
    "state_of",
    "stopped_status",
]

# recorded (runs table, journal header)
RUNNING = "running"
OK = "ok"
FAILED = "failed"
INTERRUPTED = "interrupted"
RUN_STATUSES = (RUNNING, OK, FAILED, INTERRUPTED)

# shown (psweep status)
CRASHED = "crashed"
FINISHED = "finished"
RUN_STATES = (RUNNING, CRASHED, FINISHED, FAILED, INTERRUPTED)

_STATE_OF: dict[object, str] = {OK: FINISHED, FAILED: FAILED, INTERRUPTED: INTERRUPTED}


def state_of(status: object) -> str:
    """The state ``psweep status`` shows for a recorded `status` (other text as it is)."""
    return _STATE_OF.get(status, str(status))


def stopped_status(exc: BaseException) -> str:
    """The status of a run that `exc` stopped: Ctrl-C and SIGTERM interrupt it, the rest fail it."""
    return INTERRUPTED if isinstance(exc, KeyboardInterrupt) else FAILED
