"""Progress of a run: a bar on a terminal, a line now and then in a log file.

On a terminal (stderr is a tty) a tqdm bar shows done/total, rate, ETA and
failures. Without one (a cluster's job log, CI) a bar would be noise, and
nothing at all leaves a long run silent for hours: then one plain line is
written to stderr every :data:`LINE_INTERVAL_S` seconds (the environment
variable ``PSWEEP_PROGRESS_INTERVAL_S`` sets another interval).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from psweep.environment import PROGRESS_INTERVAL_ENV

__all__ = ["LINE_INTERVAL_S", "Progress", "want_progress"]

LINE_INTERVAL_S = 60.0
log = logging.getLogger("psweep")


def want_progress(progress: bool | None) -> str | None:
    """How to show progress: ``"bar"``, ``"lines"`` or ``None`` (not at all).

    ``None`` (the default of ``run_local``) means a bar on a terminal and lines
    elsewhere; ``True`` a bar; ``False`` nothing.
    """
    if progress is None:
        try:
            return "bar" if sys.stderr.isatty() else "lines"
        except (AttributeError, ValueError):  # replaced or closed stderr
            return None
    return "bar" if progress else None


def _line_interval() -> float:
    given = os.environ.get(PROGRESS_INTERVAL_ENV)
    if not given:
        return LINE_INTERVAL_S
    try:
        value = float(given)
    except ValueError:
        value = -1.0
    if not value > 0:
        log.warning(
            "%s=%r is not a number of seconds > 0; progress lines every %g s",
            PROGRESS_INTERVAL_ENV, given, LINE_INTERVAL_S,
        )  # fmt: skip
        return LINE_INTERVAL_S
    return value


def _clock(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    """Progress of `total` psets, shown as `mode` says (see :func:`want_progress`)."""

    def __init__(self, total: int, mode: str | None, desc: str = "psweep") -> None:
        self._bar: Any = None
        self._failed = 0
        self._total = total
        self._done = 0
        self._desc = desc
        self._lines = mode == "lines"
        self._start = self._last = time.monotonic()
        self._interval = _line_interval() if self._lines else 0.0
        if mode == "bar":
            from tqdm.auto import tqdm

            tqdm.monitor_interval = 0  # no monitor thread: pools may fork after this
            self._bar = tqdm(
                total=total,
                desc=desc,
                unit="pset",
                file=sys.stderr,
                mininterval=0.5,
                dynamic_ncols=True,
                smoothing=0.1,
            )

    @property
    def enabled(self) -> bool:
        return self._bar is not None or self._lines

    def update(self, n: int = 1, failed: int = 0) -> None:
        self._done += n
        self._failed += failed
        if self._bar is not None:
            self._bar.update(n)
            if failed:
                self._bar.set_postfix(failed=self._failed, refresh=False)
        elif self._lines:
            now = time.monotonic()
            if now - self._last >= self._interval and self._done < self._total:
                self._last = now
                print(self.line(now), file=sys.stderr, flush=True)

    def line(self, now: float | None = None) -> str:
        """One line: done of total, failures, rate and the time left."""
        elapsed = (time.monotonic() if now is None else now) - self._start
        rate = self._done / elapsed if elapsed > 0 else 0.0
        left = f", about {_clock((self._total - self._done) / rate)} left" if rate else ""
        failed = f" ({self._failed} failed)" if self._failed else ""
        return (
            f"{self._desc}: {self._done} of {self._total} psets done{failed} after "
            f"{_clock(elapsed)}, {rate:.3g} psets/s{left}"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
