"""The first steps of a run: its paths, the database it appends to, the psets it plans."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from psweep.errors import PsweepParamsError
from psweep.lifecycle.bookkeeping import prepare_simulate
from psweep.lifecycle.execute import Plan
from psweep.lifecycle.merge import DbSnapshot, merge_databases
from psweep.lifecycle.recovery import recover_journals, remove_partial_backups
from psweep.params.hashing import is_empty, pset_hashes, pset_hashes_by_name
from psweep.store.columns import filter_cols, leading_param_columns, row_psets
from psweep.store.legacy import adopt_database
from psweep.store.lookup import TextSet, isin_text
from psweep.store.paths import StudyPaths
from psweep.store.runs_table import check_runs_table

log = logging.getLogger("psweep")


@dataclass(frozen=True)
class RunPaths:
    """The paths of the study and of the run: the same, or for a simulated run those of
    ``<calc_dir>.simulate`` (:meth:`StudyPaths.simulated`)."""

    study: StudyPaths  # as given: its journals are recovered, it is backed up
    work: StudyPaths  # where func runs and the database is written
    db_src: str  # the database the run starts from

    @classmethod
    def make(
        cls, calc_dir: Any, database_dir: Any, basename: str, save: bool, simulate: bool
    ) -> RunPaths:
        study = StudyPaths(calc_dir, basename, database_dir)
        if not simulate:
            return cls(study, study, study.database)
        work = study.simulated()
        return cls(study, work, work.database if save else study.database)


def open_database(
    where: RunPaths, df: pd.DataFrame | None, save: bool, simulate: bool, lock_timeout_s: float
) -> tuple[pd.DataFrame | DbSnapshot, pd.DataFrame, bool]:
    """Step 1: recover crashed runs, then read the database the run appends to.

    Returns what the run merges into at its end (a snapshot of the file, or
    with save=False the given DataFrame), the database as a DataFrame, and
    whether it had 0.7.0's ``_pset_sha1`` before it was read into our layout.
    """
    study = where.study
    if save and not simulate and os.path.isdir(study.database_dir):
        check_runs_table(study.database_dir)  # damaged: set aside now, not found at the end
        remove_partial_backups(study)
        recover_journals(study.database_dir, study.database_basename, lock_timeout_s)
    if save and simulate:
        prepare_simulate(study.database, where.work.database_dir)
    given = df if df is not None and len(df) > 0 else None
    had_sha1 = given is not None and "_pset_sha1" in given.columns
    if given is not None:
        # a DataFrame of psweep 0.7.0, 0.16 or ps.run (whose hashes are ours where our
        # runs table lists runs beside the database)
        given = adopt_database(given, study.database_dir)
        if not save:
            return given, given, had_sha1
    base = DbSnapshot(where.db_src)
    had_sha1 = had_sha1 or base.had_sha1
    if given is not None:
        base = combine_given_df(given, base, where.db_src, lock_timeout_s)
    return base, base.df, had_sha1


def seq_start(df: pd.DataFrame) -> tuple[int, int]:
    if len(df) == 0:
        return 0, 0
    missing = [c for c in ("_run_seq", "_pset_seq") if c not in df.columns]
    if missing:
        raise PsweepParamsError(
            f"the database to append to has no column(s) {missing}; pass a "
            "DataFrame made by run_local (or df=None)"
        )
    return int(df["_run_seq"].max()) + 1, int(df["_pset_seq"].max()) + 1


def combine_given_df(
    df: pd.DataFrame, snapshot: DbSnapshot, db_src: str, lock_timeout_s: float
) -> DbSnapshot:
    """With save=True, the rows of `df` join the database file; none of the file is lost.

    A row in both takes the values of `df` where it has them (a column added in
    a notebook is kept); rows only in the file (other runs, rows recovered after
    a crash) stay; rows only in `df` are added. The run then appends to that.
    """
    on_disk = snapshot.df
    if len(on_disk) == len(df) and on_disk.index.equals(df.index) and on_disk.equals(df):
        return snapshot
    missing = int((~isin_text(on_disk.index, df.index)).sum()) if len(on_disk) else 0
    if missing:
        log.info(
            "df lacks %d rows of %s (another run, or recovered); they are kept", missing, db_src
        )
    os.makedirs(os.path.dirname(db_src) or ".", exist_ok=True)
    merge_databases(db_src, df, lock_timeout_s)
    return DbSnapshot(db_src)


_HASH_CHUNK = 65536  # psets hashed at a time by skip_dups


def plan_psets(params: list[dict], df: pd.DataFrame, skip_dups: bool) -> Plan:
    """The psets to run: all, or with skip_dups those without a successful row in `df`.

    Hashes are made here only when skip_dups needs them; otherwise the
    executors make them where the psets run.
    """
    if not (skip_dups and len(df) and "_pset_sha1" in df.columns):
        return Plan(params)
    good = np.ones(len(df), dtype=bool)
    if "_pset_status" in df.columns:
        good = df["_pset_status"].ne("failed").to_numpy()
    ok = df["_pset_sha1"][good]
    done = TextSet(ok)
    todo: list[int] = []
    sha1s: list = []
    for start in range(0, len(params), _HASH_CHUNK):  # a chunk at a time: no million strings
        hashes = pset_hashes(params[start : start + _HASH_CHUNK])
        new = np.flatnonzero(~done.contains(hashes))
        todo.extend((start + new).tolist())
        sha1s.extend(hashes[k] for k in new)
    nohash = [n for n, h in enumerate(sha1s) if not isinstance(h, str)]
    if nohash:
        unhashed = df.iloc[np.flatnonzero(good & df["_pset_sha1"].isna().to_numpy())]
        todo, sha1s = _skip_by_name(params, unhashed, todo, sha1s, nohash)
    log.info("skip_dups: %d of %d psets are done already", len(params) - len(todo), len(params))
    return Plan([params[i] for i in todo], sha1s)


def _skip_by_name(
    params: list[dict], rows: pd.DataFrame, todo: list, sha1s: list, nohash: list
) -> tuple[list, list]:
    """Drop from `todo` (positions `nohash` of it have no hash) the psets that match one
    of the successful `rows` without a hash by :func:`pset_hashes_by_name` (functions
    and classes by name, as psweep 0.16).

    Only the leading columns of the database are parameters for certain (a later
    column may be a result), so a row is compared on them: a pset matches a row that
    has its values there and no others (empty cells count as absent). A pset with a
    key outside them cannot be told from a row whose result has that name: it runs.
    """
    leading = leading_param_columns(rows)
    lead = set(leading)
    late = set(filter_cols(rows.columns, "pset")) - lead  # results, or parameters added later
    done = set(pset_hashes_by_name(row_psets(rows[leading]))) if len(rows) else set()
    mine = pset_hashes_by_name([params[todo[n]] for n in nohash])
    drop: set[int] = set()
    unsure: list[int] = []
    for n, h in zip(nohash, mine, strict=True):
        keys = {k for k, v in params[todo[n]].items() if not is_empty(v)}
        if not isinstance(h, str) or keys & late:
            unsure.append(todo[n])
        elif h in done:  # (a key that no column has is in no row: the pset is new)
            drop.add(n)
    if unsure:
        log.warning(
            "skip_dups: %d psets have no hash, so they run whether they ran before or not "
            "(a value without a stable text or importable name, or a key that is no leading "
            "parameter column of the database, e.g. %r)",
            len(unsure),
            params[unsure[0]],
        )
    keep = [n for n in range(len(todo)) if n not in drop]
    return [todo[n] for n in keep], [sha1s[n] for n in keep]


def with_pset_hash(
    base: pd.DataFrame | DbSnapshot, df: pd.DataFrame
) -> tuple[pd.DataFrame | DbSnapshot, pd.DataFrame]:
    """The database with psweep 0.16's ``_pset_hash`` in every row (``_pset_sha1``'s value:
    one hash per database), also in rows of 0.7.0 or recovered without it."""
    if "_pset_sha1" not in df.columns:
        return base, df
    if "_pset_hash" in df.columns:
        gap = df["_pset_hash"].isna().to_numpy() & df["_pset_sha1"].notna().to_numpy()
        if not gap.any():
            return base, df
    df = df.assign(_pset_hash=df["_pset_sha1"])
    if isinstance(base, DbSnapshot):
        base.df = df
        return base, df
    return df, df
