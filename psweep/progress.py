"""A progress bar for runs: done/total, rate, ETA and failures so far."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress", "want_progress"]


def want_progress(progress: bool | None) -> bool:
    """``None`` means: show a bar only when stderr is a terminal."""
    if progress is None:
        try:
            return sys.stderr.isatty()
        except (AttributeError, ValueError):  # replaced or closed stderr
            return False
    return bool(progress)


class Progress:
    """A tqdm bar on stderr (stdout stays free for func's own output)."""

    def __init__(self, total: int, enabled: bool, desc: str = "psweep") -> None:
        self._bar: Any = None
        self._failed = 0
        if enabled:
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
        return self._bar is not None

    def update(self, n: int = 1, failed: int = 0) -> None:
        if self._bar is None:
            return
        self._bar.update(n)
        if failed:
            self._failed += failed
            self._bar.set_postfix(failed=self._failed, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
