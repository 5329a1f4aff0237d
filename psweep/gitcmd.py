"""How psweep runs the git command where it does not go through GitPython: one place.

As an argument list (no shell), text in and out, output captured, and the exit
status left to the caller unless `check`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence

__all__ = ["git"]


def git(
    args: Sequence[str],
    cwd: str | os.PathLike | None = None,
    *,
    config: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess:
    """Run ``git [-c CONFIG]... ARGS`` in `cwd`; return the finished process.

    Raises OSError if git is not installed, and CalledProcessError with `check`
    when it fails.
    """
    cmd = ["git"]
    for item in config:
        cmd += ["-c", item]
    return subprocess.run(
        [*cmd, *args], cwd=cwd, env=env, input=input, capture_output=True, text=True, check=check
    )
