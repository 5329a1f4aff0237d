"""Small file and shell helpers used by study scripts."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pickle
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO, Any

import pandas as pd

from psweep.crashpoints import crash_point
from psweep.errors import PsweepCommandError
from psweep.host import pid_alive

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


@contextlib.contextmanager
def atomic_open(fn: str | os.PathLike, mode: str = "wb", sync: bool = True) -> Iterator[IO]:
    """Open a temporary file beside `fn`, and move it to `fn` when done.

    Readers see either the old file or the complete new one, never a partial
    write. If the block raises, the temporary file is removed and `fn` is left
    as it was. The new file keeps the permissions of the file it replaces (a
    database made private with ``chmod 600`` stays so); a new file gets those
    of the umask. The data reach the disk (fsync) before the move, unless `sync`
    is false: for a file that only copies another, which a reader can check.
    """
    if mode not in ("w", "wb"):
        raise ValueError(
            f"atomic_open() writes whole files, mode must be 'w' or 'wb', got {mode!r}"
        )
    fn = os.fspath(fn)
    dirname = os.path.dirname(fn) or "."
    makedirs(dirname)
    # the writer's pid in the name tells a later writer whether the file is left over
    prefix = f".{os.path.basename(fn)}.{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(dir=dirname, prefix=prefix, suffix=".tmp")
    try:
        opened: IO = os.fdopen(fd, "wb") if mode == "wb" else os.fdopen(fd, "w", encoding="utf-8")
        with opened as fh:
            yield fh
            fh.flush()
            if sync:  # on disk before it replaces the old file (not for a mere copy)
                os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(fn))
        crash_point("temp-file-written")
        os.replace(tmp, fn)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _mode_for(fn: str) -> int:
    """The permission bits a new version of `fn` gets: the old file's, else the umask's."""
    try:
        return os.stat(fn).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def remove_stale_temp_files(fn: str | os.PathLike, *, all_writers: bool = False) -> list[str]:
    """Remove the temporary files of `fn` that a killed :func:`atomic_open` left behind.

    A file counts as left over when the process named in it is gone; with
    `all_writers` (the caller holds the lock that every writer of `fn` takes),
    every temporary file of `fn` does. Returns the paths removed.
    """
    folder, base = os.path.split(os.fspath(fn))
    pattern = os.path.join(glob.escape(folder or "."), f".{glob.escape(base)}.*.tmp")
    removed = []
    for path in glob.glob(pattern):
        pid = os.path.basename(path)[len(base) + 2 :].split("-", 1)[0]
        if not all_writers and (not pid.isdigit() or pid_alive(int(pid))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed.append(path)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
