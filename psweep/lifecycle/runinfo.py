"""A run that has begun (RunInfo): its numbers, journal and lock, and how it ends."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from psweep.crashpoints import crash_point
from psweep.errors import PsweepDiskFullError, PsweepFormatError
from psweep.lifecycle.execute import Plan
from psweep.lifecycle.guards import gc_paused
from psweep.lifecycle.journal import read_journal_dir, remove_run_dir
from psweep.lifecycle.merge import DbSnapshot, merge_run
from psweep.lifecycle.opening import RunPaths
from psweep.lifecycle.results import ResultBlock, ResultRow
from psweep.lifecycle.rows import ResultColumns, append_rows, results_frame
from psweep.store import run_status
from psweep.store.legacy import in_layout
from psweep.store.lookup import isin_text

log = logging.getLogger("psweep")


@dataclass
class RunInfo:
    """A run that has begun: its numbers, its journal and lock, and how it ends.

    `runs_row` is the run's row of the runs table (start time, host, ...,
    ``status`` in :mod:`psweep.store.run_status`' words), written at the end and
    kept in the journal header meanwhile; None when the run saves nothing.
    """

    run_id: str
    run_seq: int
    pset_seq0: int
    where: RunPaths
    df: pd.DataFrame
    base: pd.DataFrame | DbSnapshot
    save: bool
    record: bool
    lock_timeout_s: float
    runs_row: dict | None = None
    journal_dir: str | None = None
    lock: Any = None
    extra: tuple[str, ...] = ()  # the 0.16 columns of its rows (assemble.extra_columns)
    layout: str | None = None  # how the file is written (legacy.in_layout)

    @property
    def header(self) -> dict:
        """What a journal file says about its run (enough to recover it)."""
        return {
            "run_id": self.run_id,
            "run_seq": self.run_seq,
            "pset_seq0": self.pset_seq0,
            "calc_dir": self.where.work.calc_dir,
            "database_basename": self.where.work.database_basename,
            "record": self.record,
            "extra": list(self.extra),
            "layout": self.layout,
            "info": self.runs_row,
        }

    def merge(self, plan: Plan, results: ResultColumns, status: str) -> pd.DataFrame:
        """Step 5: append the finished rows to the database, record the run, drop the journal.

        Each part can be cut short by a crash: the next run's recovery merges
        the journal again and skips the rows that made it (see merge_run).
        """
        with gc_paused():
            df_new = results_frame(
                results,
                plan.psets,
                run_id=self.run_id,
                run_seq=self.run_seq,
                pset_seq0=self.pset_seq0,
                calc_dir=self.where.work.calc_dir,
                record=self.record,
                extra=self.extra,
            )
            if not self.save:
                return append_rows(self.df, df_new)
            info_end = {**(self.runs_row or {}), "status": status}
            try:
                out = merge_run(
                    self.where.work.database, df_new, info_end, self.base, self.lock_timeout_s,
                    layout=self.layout,
                )  # fmt: skip
            except PsweepFormatError:
                if self.journal_dir is not None:
                    remove_run_dir(self.journal_dir)  # the rows are set aside (merge_run)
                raise
            except PsweepDiskFullError as exc:  # the journal stays: the next run merges it
                raise self.disk_full(exc) from exc.__cause__
        if self.journal_dir is not None:
            remove_run_dir(self.journal_dir)
        crash_point("journal-removed")
        return out

    def disk_full(self, exc: PsweepDiskFullError) -> PsweepDiskFullError:
        """`exc` of :func:`merge_run`, told what became of the run's rows and what to do."""
        rows = exc.rows if exc.rows is not None else pd.DataFrame()
        df = exc.df if exc.df is not None else self.df
        n, journal = len(rows), self.journal_dir
        if n == 0:
            kept = (
                f"Nothing is lost: the run's journal {journal!r} is kept, and the next run "
                "(or ps.recover) records the run from it. Free space there"
            )
        else:
            k = self._n_journaled(rows.index)
            kept = f"The file is as it was, without the {n} rows of run {self.run_id}. "
            if k == n:
                kept += f"All of them are in the run's journal {journal!r}: nothing is lost. "
            else:
                held = (
                    "could not be written anywhere and are only in this error's .rows "
                    "(.df is the database with them: keep it, pass df=err.df to the next run)"
                )
                kept += (
                    f"{k} of them are in the run's journal {journal!r}; the other {n - k} {held}. "
                    if k
                    else f"None of them reached the run's journal: they {held}. "
                )
            kept += (
                "Free space on the device, then run the same params again with "
                "skip_dups=True: it merges the journal first and runs only the psets whose "
                "rows are missing"
            )
        return PsweepDiskFullError(
            f"{exc}. {kept}",
            exc.filename,
            exc.errno,
            rows=in_layout(rows, self.layout),
            df=in_layout(df, self.layout),
        )

    def _n_journaled(self, pset_ids: pd.Index) -> int:
        """How many of `pset_ids` the run's journal holds (read once the run is over)."""
        if self.journal_dir is None or not os.path.isdir(self.journal_dir):
            return 0
        _, rows = read_journal_dir(self.journal_dir)
        journaled = [ResultRow._make(row).pset_id for row in rows]
        return int(isin_text(pset_ids, journaled).sum()) if journaled else 0

    def save_stopped(self, exc: BaseException, plan: Plan, results: ResultColumns) -> None:
        """Save every finished pset of a run that an exception or a signal stopped."""
        status = run_status.stopped_status(exc)
        if self.runs_row is not None and status == run_status.FAILED:
            self.runs_row["last_error"] = f"{type(exc).__name__}: {exc}"[:500]
        if self.save:
            _add_journaled(self.journal_dir, results)
        ndone = len(results)
        if not (self.save or ndone):
            return
        try:
            self.merge(plan, results, status)
        except PsweepDiskFullError as full:
            if not isinstance(exc, Exception):  # Ctrl-C, SIGTERM: the stop goes on
                log.error("could not save the finished rows of run %s: %s", self.run_id, full)
                return
            # the error that keeps the rows in the caller's hands; the stop is its cause
            raise PsweepDiskFullError(
                f"run {self.run_id} stopped ({type(exc).__name__}: {str(exc)[:300]}), and "
                f"saving its finished psets failed: {full}",
                full.filename, full.errno, rows=full.rows, df=full.df,
            ) from exc  # fmt: skip
        except Exception as save_exc:
            log.error("could not save the finished rows of run %s: %s", self.run_id, save_exc)
            return
        if not ndone:
            log.warning("run %s stopped before any pset finished; nothing to save", self.run_id)
        else:
            log.warning(
                "run %s stopped after %d of %d psets; their rows are saved. To go on with "
                "the rest, run the same params again with skip_dups=True (in a study "
                "repository: python input.py --skip-dups); a plain rerun runs all of them again",
                self.run_id,
                ndone,
                len(plan),
            )

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def _add_journaled(journal_dir: str | None, results: ResultColumns) -> None:
    """Add the rows that the journals hold but `results` do not (psets finished in
    workers whose results had not come back when the run stopped)."""
    if journal_dir is None or not os.path.isdir(journal_dir):
        return
    _, rows = read_journal_dir(journal_dir)
    ids = [ResultRow._make(row).pset_id for row in rows]
    have = isin_text(ids, results.pset_ids())
    block = ResultBlock.of_rows([row for row, known in zip(rows, have, strict=True) if not known])
    if block is not None:
        results.add(block)
