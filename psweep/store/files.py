"""Small file and shell helpers used by study scripts."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
from collections.abc import Sequence
from typing import Any

import pandas as pd

from psweep.atomicfile import atomic_open, remove_stale_temp_files
from psweep.errors import PsweepCommandError

__all__ = [
    "atomic_open",
    "check_calc_dir",
    "file_read",
    "file_write",
    "fullpath",
    "json_read",
    "json_write",
    "makedirs",
    "pickle_read",
    "pickle_write",
    "remove_stale_temp_files",
    "system",
]

_UUID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)


def system(cmd: str | Sequence[str], **kwds: Any) -> subprocess.CompletedProcess:
    """Run a command and return the :class:`subprocess.CompletedProcess`.

    A string runs in the shell (write it yourself; quote values with
    :func:`shlex.quote`), a list runs without one. stdout and stderr are
    captured together in ``.stdout`` (bytes). A non-zero exit raises
    :class:`PsweepCommandError`, a :class:`subprocess.CalledProcessError`
    that carries the output. `kwds` go to :func:`subprocess.run`.
    """
    shell = isinstance(cmd, str)
    proc = subprocess.run(
        cmd,
        shell=shell,
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kwds,
    )
    if proc.returncode != 0:
        raise PsweepCommandError(proc.returncode, cmd, output=proc.stdout)
    return proc


def makedirs(path: str | os.PathLike) -> None:
    """Create directory `path` and its parents; an existing one is fine."""
    if str(path).strip():
        os.makedirs(path, exist_ok=True)


def fullpath(path: str | os.PathLike) -> str:
    """Return `path` absolute, with ``~`` expanded."""
    return os.path.abspath(os.path.expanduser(path))


def json_write(fn: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON to `fn` (atomically), creating parent folders."""
    text = json.dumps(obj, indent=2)
    with atomic_open(fn, "w") as fh:
        fh.write(text)


def json_read(fn: str | os.PathLike) -> Any:
    """Read the JSON file `fn`."""
    with open(fn) as fh:
        return json.load(fh)


def file_write(fn: str | os.PathLike, txt: str, mode: str = "w") -> None:
    """Write text `txt` to `fn`, creating parent directories.

    ``mode="w"`` replaces the file atomically; ``mode="a"`` appends.
    """
    if mode == "w":
        with atomic_open(fn, "w") as fh:
            fh.write(txt)
    else:
        makedirs(os.path.dirname(os.fspath(fn)))
        with open(fn, mode) as fh:
            fh.write(txt)


def file_read(fn: str | os.PathLike) -> str:
    """Return the text of file `fn`."""
    with open(fn) as fh:
        return fh.read()


def pickle_write(fn: str | os.PathLike, obj: Any) -> None:
    """Pickle `obj` to `fn` atomically, creating parent directories."""
    with atomic_open(fn, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)


def pickle_read(fn: str | os.PathLike) -> Any:
    """Return the object pickled in `fn`."""
    with open(fn, "rb") as fh:
        return pickle.load(fh)


def check_calc_dir(calc_dir: str | os.PathLike, df: pd.DataFrame) -> dict[str, set]:
    """Compare the ``<calc_dir>/<_pset_id>`` folders with the database.

    Returns ``{"db_not_disk": ..., "disk_not_db": ...}``: the ``_pset_id``
    values in `df` without a folder, and the folders (named like a UUID)
    without a row.
    """
    if not os.path.isdir(calc_dir):
        raise FileNotFoundError(f"calc_dir {os.fspath(calc_dir)!r} is not a directory")
    on_disk = {
        name
        for name in os.listdir(calc_dir)
        if _UUID_RE.match(name) and os.path.isdir(os.path.join(calc_dir, name))
    }
    in_db = set(df["_pset_id"].astype(str)) if "_pset_id" in df.columns else set()
    return {"db_not_disk": in_db - on_disk, "disk_not_db": on_disk - in_db}
