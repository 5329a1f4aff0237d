"""What a study is doing, seen from outside: its runs and its batch jobs.

:func:`status` reads the runs table (its plain copy ``runs.json`` where that
is up to date, without pandas; else ``runs.pk``) and the journals of runs
that go on or crashed; it never reads the database and never takes a lock, so
it answers at once however large the database is, and a run that it watches
does not wait for it. A run is

- ``running``: its journal is there and its process lives;
- ``crashed``: its journal is there, not merged, and its process is gone (the
  next run, or :func:`psweep.recover`, merges it);
- ``finished``: done, whether or not some psets failed (``n_failed``);
- ``failed``: stopped by an exception in func (``on_error="raise"``);
- ``interrupted``: stopped by Ctrl-C or SIGTERM, or recovered after a crash.

``psweep status [CALC_DIR]`` prints it; ``--watch`` refreshes in place,
``--json`` prints the plain data.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import math
import os
import shlex
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psweep.errors import PsweepDatabaseError, error_line
from psweep.host import HOST, pid_alive
from psweep.lifecycle.journal import journal_run_dirs, read_journal_counts, read_journal_header
from psweep.store.paths import StudyPaths
from psweep.store.run_status import CRASHED, FINISHED, RUN_STATES, RUNNING, state_of
from psweep.store.runs_json import plain, read_runs_json
from psweep.store.utctime import is_missing, parse_time, utc_now

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported only where a DataFrame is read or made: a study whose runs.json is
# up to date (psweep.store.runs_json) and that has no journals gets its status without it

__all__ = ["RUN_STATES", "df_runs", "journal_runs", "status", "status_parser"]

# a run on another host (shared file system) counts as running while it writes
_FOREIGN_QUIET_S = 600.0


def _seconds(a: Any, b: Any) -> float | None:
    """Seconds from time `a` to time `b` (datetimes, Timestamps or ISO text), at least 0;
    0.0 if one is missing (NaN, as pandas' NaT gave it, counts as none), None if one is no
    time. Two pandas Timestamps give pandas' difference, datetimes Python's: the same
    seconds as pandas gives for microsecond times."""
    try:
        start, end = parse_time(a), parse_time(b)
        if start is None or end is None:
            return 0.0
        return max(0.0, (end - start).total_seconds())
    except (TypeError, ValueError):
        return None


def _journal_state(info: dict, run_dir: str, newest_mtime: float) -> str:
    pid, host = info.get("pid"), info.get("host")
    if isinstance(pid, int) and host == HOST:
        return RUNNING if pid_alive(pid) else CRASHED
    return RUNNING if time.time() - newest_mtime < _FOREIGN_QUIET_S else CRASHED


def _file_time(mtime: float) -> Any:
    """A file's modification time as a naive UTC Timestamp, to the nanosecond."""
    import pandas as pd  # loaded already: the journal header holds the run's Timestamps

    return pd.Timestamp(mtime, unit="s")


def journal_runs(calc_dir: str = "calc") -> list[dict]:
    """The runs that have a journal in `calc_dir` (running or crashed), with what it holds.

    Reads the journal files as they are (a frame being written is skipped, not
    waited for); takes no lock.
    """
    out = []
    for run_dir in journal_run_dirs(calc_dir):
        header = read_journal_header(run_dir)
        if header is None:
            continue
        counts: tuple | None = None
        note = None
        try:
            files = sorted(glob.glob(os.path.join(glob.escape(run_dir), "*.journal")))
            newest = max((os.stat(f).st_mtime for f in files), default=0.0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tail a live writer has not finished
                per_file = [read_journal_counts(f) for f in files]
            failed_texts = [c[2] for c in per_file if c[2] is not None]
            counts = (
                sum(c[0] for c in per_file),
                sum(c[1] for c in per_file),
                failed_texts[-1] if failed_texts else None,
            )
        except FileNotFoundError:  # the run finished meanwhile: runs.pk has it
            continue
        except Exception as exc:  # rows of a class this program cannot import
            newest = time.time()
            note = f"journal unreadable here: {exc}"
        info = header.get("info") or {}
        entry: dict[str, Any] = {
            "run_id": header.get("run_id"),
            "state": _journal_state(info, run_dir, newest),
            "start_utc": info.get("start_utc"),
            "end_utc": None,
            "n_planned": info.get("n_planned"),
            "host": info.get("host"),
            "pid": info.get("pid"),
            "command": info.get("command"),
            "database_basename": header.get("database_basename"),
            "note": note,
        }
        if counts is not None:
            entry.update(
                n_done=counts[0],
                n_failed=counts[1],
                last_error=error_line(counts[2]),
                last_row_utc=_file_time(newest) if newest else None,
            )
        else:
            entry.update(n_done=None, n_failed=None, last_error=None)
        out.append(entry)
    return out


def df_runs(calc_dir: str = "calc") -> pd.DataFrame:
    """Return the runs table of `calc_dir`: one row per run, indexed by ``_run_id``.

    Columns: start and end time (UTC), status (``ok``, ``failed``,
    ``interrupted``; ``running`` or ``crashed`` for a run whose journal is
    not merged yet), number of psets (done so far, for those two) and of
    failed ones, the last error, host, user, pid, working directory, command
    line, Python/psweep/pandas versions, and the git commit and dirty flag of
    the working directory. A crashed run shows here before any recovery, with
    the psets its journal holds; recovery turns it into ``interrupted``.
    """
    import pandas as pd

    from psweep.store.runs_table import read_runs_table

    live = journal_runs(calc_dir)  # before the table: a run ending meanwhile is in it then
    runs = read_runs_table(calc_dir)
    extra = [r for r in live if runs is None or r["run_id"] not in runs.index]
    if extra:
        rows = pd.DataFrame(
            [
                {
                    "_run_id": r["run_id"],
                    "start_utc": r["start_utc"],
                    "end_utc": pd.NaT,
                    "status": r["state"],
                    "n_psets": r["n_done"],
                    "n_failed": r["n_failed"],
                    "last_error": r["last_error"],
                    "host": r["host"],
                    "pid": r["pid"],
                    "command": r["command"],
                }
                for r in extra
            ]
        ).set_index(pd.Index([r["run_id"] for r in extra]))
        runs = rows if runs is None or len(runs) == 0 else pd.concat([runs, rows])
    if runs is None:
        return pd.DataFrame(columns=["_run_id", "start_utc", "end_utc", "status"])
    return runs


def _finished_runs(calc_dir: str) -> tuple[list[dict], str | None]:
    """The runs of the runs table, and a line that says why there are none if it is damaged.

    Read from ``runs.json`` where that is the copy of ``runs.pk`` (no pandas), else from
    ``runs.pk``.
    """
    if not os.path.exists(StudyPaths(calc_dir).runs_table):
        return [], None
    records = read_runs_json(calc_dir)
    if records is not None:
        return [_finished_run(run_id, row.get) for run_id, row in records], None
    try:
        runs = _read_runs_pk(calc_dir)
    except PsweepDatabaseError as exc:
        return [], str(exc)
    if runs is None:
        return [], None
    return [_finished_run(run_id, row.get) for run_id, row in runs.iterrows()], None


def _read_runs_pk(calc_dir: str) -> pd.DataFrame | None:
    from psweep.store.runs_table import read_runs_table

    try:
        return read_runs_table(calc_dir)
    except PsweepDatabaseError:  # being replaced right now (atomic rename)? once more
        time.sleep(0.05)
        return read_runs_table(calc_dir)


def _finished_run(run_id: Any, get: Any) -> dict:
    """A run of the runs table, `get` giving its columns."""
    return {
        "run_id": run_id,
        "state": state_of(get("status")),
        "start_utc": get("start_utc"),
        "end_utc": get("end_utc"),
        "n_planned": _int(get("n_planned")),
        "n_done": _int(get("n_psets")),
        "n_failed": _int(get("n_failed")),
        "last_error": get("last_error") if isinstance(get("last_error"), str) else None,
        "host": get("host"),
        "pid": _int(get("pid")),
        "command": get("command"),
        "note": None,
    }


def _int(value: Any) -> int | None:
    try:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return int(value)
    except (TypeError, ValueError):
        return None


def _with_rates(run: dict, now: datetime) -> dict:
    end = run["end_utc"] if run["state"] not in (RUNNING, CRASHED) else None
    if run["state"] == CRASHED:
        end = run.get("last_row_utc")
    elapsed = _seconds(run["start_utc"], now if is_missing(end) else end)
    done, planned = run.get("n_done"), run.get("n_planned")
    left = max(planned - done, 0) if planned is not None and done is not None else None
    if run["state"] == FINISHED and left is None:
        left = 0
    rate = done / elapsed if done and elapsed else None
    eta = left / rate if run["state"] == RUNNING and left is not None and rate else None
    return {**run, "n_left": left, "elapsed_s": elapsed, "rate_per_s": rate, "eta_s": eta}


def _batch(calc_dir: str) -> dict:
    """Per machine of a batch study: how many jobs are prepared, pending, running, done, ..."""
    if not glob.glob(os.path.join(glob.escape(calc_dir), "run_*.sh")):
        return {}
    from psweep.batch.states import batch_state_summary, batch_states  # reads the database

    with contextlib.suppress(FileNotFoundError):
        states = batch_states(calc_dir)
        return batch_state_summary(states) if len(states) else {}
    return {}


def status(calc_dir: str = "calc") -> dict:
    """The study's state as plain data (numbers, text, None), ready for ``json.dumps``.

    Returns ``{"calc_dir", "time_utc", "runs": [...], "batch": {...},
    "databases": [...]}``. Each
    run has ``run_id``, ``state`` (one of ``RUN_STATES``), ``start_utc``,
    ``end_utc``, ``elapsed_s``, ``n_planned``, ``n_done``, ``n_failed``,
    ``n_left``, ``rate_per_s``, ``eta_s`` (running runs), ``last_error``,
    ``host``, ``pid``, ``command``; oldest first; crashed runs also name their
    ``database_basename``. ``batch`` has one entry per
    machine of a batch study (see :func:`psweep.batch_states`). ``databases``
    names the database files of a calc dir without recorded runs (one of
    psweep 0.7.0 or 0.16, which keep no runs table) or with a damaged runs
    table, which ``runs_table_error`` then describes in one line (else None).
    """
    calc_dir = os.fspath(calc_dir)
    live = journal_runs(calc_dir)  # before runs.pk: a run that ends meanwhile is in that
    runs = {run["run_id"]: run for run in live}
    finished, damaged = _finished_runs(calc_dir)
    # the time of the counts: taken after reading them, so that psets counted as done
    # never make a run look faster than it is (reading may import pandas, ~0.5 s)
    now = utc_now()
    for run in finished:
        runs[run["run_id"]] = run  # a recorded run wins over a journal not yet removed
    ordered = _oldest_first(runs.values(), now)
    return {
        "calc_dir": calc_dir,
        "time_utc": now.isoformat(),
        "runs": [{k: plain(v) for k, v in _with_rates(r, now).items()} for r in ordered],
        "batch": _batch(calc_dir),
        "databases": _databases(calc_dir) if damaged or not ordered else [],
        "runs_table_error": damaged,
    }


def _oldest_first(runs: Iterable[dict], now: datetime) -> list[dict]:
    """The runs by start time; one without a start time counts as starting `now`."""

    def start(run: dict) -> datetime:
        time_ = parse_time(run["start_utc"] or None)
        return now if time_ is None else time_

    return sorted(runs, key=start)


def _databases(calc_dir: str) -> list[str]:
    """Database files in `calc_dir` (:meth:`StudyPaths.database_files`), without reading
    them."""
    return sorted(os.path.basename(fn) for fn in StudyPaths(calc_dir).database_files())


# -- the command ----------------------------------------------------------------------


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_status(data: dict, last: int | None = 10) -> str:
    """The text ``psweep status`` prints: a table of the runs, then the batch jobs."""
    runs = data["runs"] if last is None else data["runs"][-last:]
    lines = [f"psweep status of {data['calc_dir']} at {data['time_utc'][:19]} UTC"]
    damaged = data.get("runs_table_error")
    if damaged:
        lines.append(damaged)
        if data.get("databases"):
            names = ", ".join(data["databases"])
            lines.append(f"database: {names} (psweep-db2table shows its rows)")
    if runs:
        lines.extend(_runs_lines(data, runs))
    elif data.get("databases") and not damaged:
        lines.append(
            f"no runs recorded, but {', '.join(data['databases'])} has rows (written by psweep "
            "0.7.0 or 0.16, or copied here without runs.pk); psweep-db2table shows them"
        )
    elif not damaged:
        lines.append("no runs yet")
    for machine, counts in (data.get("batch") or {}).items():
        text = ", ".join(f"{k} {v}" for k, v in counts.items())
        lines.append(f"batch jobs on {machine}: {text}")
    return "\n".join(lines)


def _runs_lines(data: dict, runs: list[dict]) -> list[str]:
    from tabulate import tabulate

    table = [
        [
            r["run_id"][:8],
            r["state"],
            "" if r["n_done"] is None else r["n_done"],
            "" if r["n_failed"] is None else r["n_failed"],
            "" if r["n_left"] is None else r["n_left"],
            "" if r["rate_per_s"] is None else f"{r['rate_per_s']:.3g}/s",
            _duration(r["elapsed_s"]),
            _duration(r["eta_s"]),
            (r["last_error"] or r.get("note") or "")[:60],
        ]
        for r in runs
    ]
    headers = ["run", "state", "done", "failed", "left", "rate", "elapsed", "ETA", "last error"]
    lines = [tabulate(table, headers=headers, tablefmt="simple")]
    hidden = len(data["runs"]) - len(runs)
    if hidden:
        lines.append(f"({hidden} older runs not shown; --all shows them)")
    crashed = [r for r in data["runs"] if r["state"] == CRASHED]
    if crashed:
        lines.append(
            f"{len(crashed)} crashed run(s): their journaled psets are merged by the next run "
            f"of the same database, or now by: {recover_command(data['calc_dir'], crashed)}"
        )
    return lines


def recover_command(calc_dir: str, crashed: list[dict]) -> str:
    """The shell command that merges the journals of the `crashed` runs of `calc_dir`.

    :func:`psweep.recover` merges only journals of the database it is given, so
    the command names each database (``database.parquet``, ...) the runs wrote.
    """
    names = sorted({r.get("database_basename") or "database.pk" for r in crashed})
    calls = "; ".join(f"psweep.recover({calc_dir!r}, {name!r})" for name in names)
    code = f"import psweep; {calls}"
    if not any(c in code for c in '"$`\\!'):  # reads best in double quotes, and is safe there
        return f'python -c "{code}"'
    return f"python -c {shlex.quote(code)}"


def batch_dir_hint(calc_dir: str) -> str:
    """``"batch/ has the batch jobs: psweep status batch"`` when calc_dir has none but batch/ has.

    Empty when `calc_dir` has submit scripts or no other folder of
    :data:`psweep.batch.BATCH_DIR_CANDIDATES` has any.
    """
    from psweep.batch.layout import submit_script_dirs

    if submit_script_dirs(None, (calc_dir,)):
        return ""
    here = os.path.realpath(calc_dir)
    others = [d for d in submit_script_dirs() if os.path.realpath(d) != here]
    return f"{others[0]}/ has the batch jobs: psweep status {others[0]}" if others else ""


def status_parser() -> argparse.ArgumentParser:
    """The parser of ``psweep status`` (:func:`main`)."""
    parser = argparse.ArgumentParser(
        prog="psweep status",
        description="Show the runs of a study (running, crashed, finished, failed, "
        "interrupted) with psets done, failed and left, rate, elapsed time, time left and "
        "the last error, and the state of its batch jobs. Reads the runs table and the "
        "journals only, without locks: safe and quick while a run goes on.",
    )
    parser.add_argument("calc_dir", nargs="?", default="calc", metavar="CALC_DIR")
    parser.add_argument("--json", action="store_true", help="print the data as JSON")
    parser.add_argument(
        "--watch",
        nargs="?",
        type=float,
        const=2.0,
        default=None,
        metavar="SECONDS",
        help="refresh in place every SECONDS (default 2) until Ctrl-C",
    )
    parser.add_argument("--all", action="store_true", help="show every run, not the last 10")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``psweep status [CALC_DIR]``; return the exit status."""
    parser = status_parser()
    args = parser.parse_args(argv)
    if args.watch is not None and args.watch <= 0:
        parser.error(f"--watch needs a number of seconds > 0, got {args.watch}")
    if args.watch is None and not os.path.isdir(args.calc_dir):
        hint = batch_dir_hint(args.calc_dir)
        parser.exit(
            2,
            f"psweep status: error: {args.calc_dir!r} is not a directory"
            + (f"; {hint}" if hint else "")
            + "\n",
        )
    last = None if args.all else 10

    def show() -> str:
        if not os.path.isdir(args.calc_dir):  # --watch started before the run: wait for it
            return f"psweep status of {args.calc_dir}: no such directory yet, waiting"
        try:
            data = status(args.calc_dir)
        except Exception as exc:  # a file replaced right now: the next refresh reads it
            if args.watch is None:
                raise
            return f"psweep status of {args.calc_dir}: could not read it this time ({exc})"
        if args.json:
            return json.dumps(data, indent=2)
        hint = "" if data["batch"] else batch_dir_hint(args.calc_dir)
        return format_status(data, last) + (f"\n{hint}" if hint else "")

    if args.watch is None:
        sys.stdout.write(show() + "\n")
        return 0
    try:
        while True:
            text = show()
            sys.stdout.write("\x1b[H\x1b[J" + text + "\n" if sys.stdout.isatty() else text + "\n")
            sys.stdout.flush()
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
