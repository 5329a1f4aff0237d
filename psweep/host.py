"""The name of this machine, as psweep records it: the runs table's ``host``, the journal
header (which tells a run of this machine from one on another), and ``_exec_host``."""

from __future__ import annotations

import platform

__all__ = ["HOST"]

#: The host name (``uname -n``), read once.
HOST = platform.node()
