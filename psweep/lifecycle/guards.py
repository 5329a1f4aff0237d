"""What surrounds the psets while they run: SIGTERM as an interrupt, the garbage collector held."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import threading
from collections.abc import Iterator

from psweep.errors import PsweepTerminated

log = logging.getLogger("psweep")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during bookkeeping (no user code runs).

    Building and merging large row sets creates millions of small objects;
    the collector would scan them over and over, for nothing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def gc_frozen() -> Iterator[None]:
    """Keep the collector from rescanning the (large) plan while func runs."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def sigterm_as_interrupt():
    """In the main thread, turn SIGTERM into PsweepTerminated while the psets run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    here = os.getpid()

    def handler(signum, frame):
        if os.getpid() != here:  # a pool worker forked before it reset the handler
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise PsweepTerminated(f"signal {signum} (SIGTERM)")

    handler._psweep_run = True  # type: ignore[attr-defined]
    _reset_sigterm_in_children()
    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


_AT_FORK: list[bool] = []


def _reset_sigterm_in_children() -> None:
    """A process forked while the run's SIGTERM handler is set (by func: its own process
    pool, serially) gets SIGTERM's default back at once.

    Inherited, the handler ends such a child only when Python code runs in it, and
    a child that waits in C (an idle pool worker) could miss SIGTERM: Pool.terminate
    then waited for ever. Registered once, on the first run; it acts only while a
    run's handler is set.
    """
    if _AT_FORK or not hasattr(os, "register_at_fork"):
        return
    _AT_FORK.append(True)

    def after_in_child() -> None:
        if getattr(signal.getsignal(signal.SIGTERM), "_psweep_run", False):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    os.register_at_fork(after_in_child=after_in_child)


def die_of_sigterm() -> None:
    """End the process as SIGTERM would have, now that the finished psets are saved."""
    log.warning("psweep: stopped by SIGTERM; finished psets are saved")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
