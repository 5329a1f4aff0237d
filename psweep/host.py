"""This machine: its name, as psweep records it (the runs table's ``host``, the journal
header, which tells a run of this machine from one on another, and ``_exec_host``),
and whether a process of it is alive (:func:`pid_alive`)."""

from __future__ import annotations

import os
import platform

__all__ = ["HOST", "pid_alive"]

#: The host name (``uname -n``), read once.
HOST = platform.node()


def pid_alive(pid: int) -> bool:
    """Whether process `pid` is running (a zombie that waits to be reaped is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # no /proc (macOS): kill(0) said it exists
        return True
