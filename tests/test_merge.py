"""Tests of merge_rows, the one merge of run end, recovery, pull and collect_batch."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import psweep as ps
from psweep.lifecycle.merge import merge_databases, merge_rows


def rows(run_id: str, run_seq: int, pset_seq0: int, values: list[int]) -> pd.DataFrame:
    """The rows of one run, as a database holds them."""
    ids = [f"{run_id}-{k}" for k in range(len(values))]
    df = pd.DataFrame(
        {
            "a": values,
            "_pset_id": ids,
            "_run_id": run_id,
            "_run_seq": run_seq,
            "_pset_seq": range(pset_seq0, pset_seq0 + len(values)),
            "_pset_sha1": [ps.pset_hash({"a": v}) for v in values],
        },
        index=pd.Index(ids),
    )
    return df.astype({"_run_seq": "int64", "_pset_seq": "int64"})


def database(runs: list[tuple[str, list[int]]], base: pd.DataFrame | None = None) -> pd.DataFrame:
    """`base` extended by runs (run id, values), numbered as a run would number them."""
    df = pd.DataFrame() if base is None else base
    for run_id, values in runs:
        run_seq = int(df["_run_seq"].max()) + 1 if len(df) else 0
        pset_seq0 = int(df["_pset_seq"].max()) + 1 if len(df) else 0
        df = pd.concat([df, rows(run_id, run_seq, pset_seq0, values)])
    return df


def check_unique(df: pd.DataFrame) -> None:
    if len(df) == 0:
        return
    assert list(df.index) == list(df["_pset_id"])
    assert df.index.is_unique
    assert df["_pset_seq"].is_unique
    per_run = df.groupby("_run_id")["_run_seq"].agg(["nunique", "first"])
    assert (per_run["nunique"] == 1).all() and per_run["first"].is_unique


def test_new_runs_follow_the_database():
    """It numbers the runs new to the database after its own, in the order they come."""
    common = database([("r0", [1, 2])])
    here = database([("h1", [3])], common)
    there = database([("t1", [4, 5]), ("t2", [6])], common)
    merged = merge_rows(here, there, source="there")
    assert (merged.n_new, merged.n_shared) == (3, 2)
    df = merged.df
    check_unique(df)
    assert df["a"].tolist() == [1, 2, 3, 4, 5, 6]
    assert df["_run_seq"].tolist() == [0, 0, 1, 2, 2, 3]
    assert df["_pset_seq"].tolist() == list(range(6))


def test_shared_rows_take_new_values_and_keep_their_place():
    """A row on both sides takes the other side's values where it has them (not NaN),
    and keeps its run and sequence numbers here."""
    here = database([("r0", [1, 2])]).assign(out=[10.0, float("nan")])
    there = here.assign(out=[float("nan"), 20.0], _pset_seq=[7, 8], extra=["x", "y"])
    df = merge_rows(here, there, source="there").df
    assert df["out"].tolist() == [10.0, 20.0]
    assert df["_pset_seq"].tolist() == [0, 1]
    assert df["extra"].tolist() == ["x", "y"]
    assert df["_pset_seq"].dtype == "int64"


def test_on_shared_skip_and_error():
    """Recovery skips rows merged already; a run end refuses them, naming the row."""
    here = database([("r0", [1, 2])])
    again = pd.concat([here.iloc[1:], rows("r1", 1, 2, [3])])
    assert merge_rows(here, again, source="run r1", on_shared="skip").df["a"].tolist() == [1, 2, 3]
    with pytest.raises(ps.PsweepDatabaseError, match=r"r0-1.*run r1"):
        merge_rows(here, again, source="run r1", on_shared="error")


@pytest.mark.parametrize("bad", [[1, 2], {"a": 1}, None])
def test_no_dataframe_is_one_line_naming_it(bad):
    """An input that is no DataFrame is a PsweepDatabaseError that names it, in one line."""
    with pytest.raises(ps.PsweepDatabaseError) as exc:
        merge_rows(database([("r0", [1])]), bad, source="'host:calc/database.pk'")
    msg = str(exc.value)
    assert "'host:calc/database.pk'" in msg and type(bad).__name__ in msg
    assert "\n" not in msg


def test_merge_databases_keeps_a_016_file_in_its_layout(tmp_path, monkeypatch):
    """Pulling into a database of ps.run (0.16's layout) leaves it in that layout."""
    monkeypatch.chdir(tmp_path)
    ps.run(lambda pset: {"y_": pset["a"]}, ps.plist("a", [1, 2]))
    other = database([("x1", [3])])
    merge_databases("calc/database.pk", other)
    df = ps.df_read("calc/database.pk")
    assert list(df.index) == list(df["_pset_seq"]) == [0, 1, 2]
    assert "_pset_sha1" not in df.columns
    assert df["_pset_hash"].tolist() == [ps.pset_hash({"a": a}) for a in [1, 2, 3]]


# A study copied to several places (a laptop, clusters), each adding runs.
sides = st.lists(
    st.lists(st.lists(st.integers(0, 50), min_size=1, max_size=3), max_size=3),
    min_size=2,
    max_size=4,
)


@settings(max_examples=40, deadline=None)
@given(common=st.lists(st.integers(0, 50), max_size=3), runs=sides)
def test_merging_copies_in_any_order(common, runs):
    """Merging copies of a database, each extended on its own, in any order and grouping:
    ids, sequences and index stay unique, every pset of every copy is there once, the
    database merged into keeps its numbers, and merging a copy again changes nothing."""
    base = database([("c", common)]) if common else pd.DataFrame()
    copies = [
        database([(f"s{i}r{j}", values) for j, values in enumerate(side)], base)
        for i, side in enumerate(runs)
    ]
    every = set().union(*(set(c.index) for c in copies))
    results = []
    for order in itertools.permutations(range(len(copies))):
        df = copies[order[0]]
        for k in order[1:]:
            df = merge_rows(df, copies[k], source=f"copy {k}").df
            check_unique(df)
        first = copies[order[0]]
        assert len(first) == 0 or df.loc[first.index, ["_run_seq", "_pset_seq"]].equals(
            first[["_run_seq", "_pset_seq"]]
        )
        assert set(df.index) == every
        again = merge_rows(df, copies[order[-1]], source="again")
        assert again.n_new == 0 and again.df.equals(df)
        results.append(df)
    # (A + B) + C against A + (B + C): the same psets
    if len(copies) >= 3:
        a, b, c = copies[:3]
        left = merge_rows(merge_rows(a, b, source="b").df, c, source="c").df
        right = merge_rows(a, merge_rows(b, c, source="c").df, source="b+c").df
        check_unique(left)
        check_unique(right)
        assert set(left.index) == set(right.index)
        cols = ["a"]  # absent where every copy is empty
        assert (
            left.sort_index().reindex(columns=cols).equals(right.sort_index().reindex(columns=cols))
        )


def _count(pset):
    import os

    with open(os.environ["COUNT"], "a") as fh:
        fh.write(f"{pset['a']}\n")
    return {"b": 2 * pset["a"]}


def test_recovery_on_a_disk_still_full(tmp_path, monkeypatch):
    """A run on a real full disk (a tmpfs; needs root) whose journal holds an interrupted
    run's rows stops before any pset with PsweepDiskFullError that says the journal is
    kept; the journal is untouched. Once there is room, ps.recover merges it."""
    import glob
    import os
    from pathlib import Path

    from disk_utils import fill_disk, small_disk

    monkeypatch.setenv("COUNT", str(tmp_path / "count"))
    with small_disk(tmp_path / "disk") as disk:
        monkeypatch.chdir(disk)
        try:
            # an interrupted run: its rows only in its journal
            fill_disk(disk / "filler", leave_bytes=64 * 1024)
            with pytest.raises(ps.PsweepDiskFullError):
                ps.run_local(_count, ps.plist("a", range(3000)))
            assert not os.path.exists("calc/database.pk")
            (tmp_path / "count").unlink()
            journals = sorted(glob.glob("calc/.psweep/journal/*/*.journal"))
            before = [Path(p).read_bytes() for p in journals]
            assert before
            fill_disk(disk / "filler")
            with pytest.raises(ps.PsweepDiskFullError) as caught:
                ps.run_local(_count, ps.plist("a", [-1]))
            text = str(caught.value)
            assert "cannot write the database 'calc/database.pk': No space left" in text
            assert "journal of the interrupted run" in text and "no pset ran" in text
            assert not (tmp_path / "count").exists()
            assert [Path(p).read_bytes() for p in journals] == before
            os.unlink(disk / "filler")
            df = ps.recover("calc")
            assert len(df) > 0 and (df["b"] == 2 * df["a"]).all()
            assert glob.glob("calc/.psweep/journal/*") == []
        finally:
            os.chdir(tmp_path)


def test_runs_table_on_a_full_disk(tmp_path, monkeypatch):
    """The database is written, then the runs table beside it is not (no space left):
    the error says the database holds the rows and nothing is lost; the next run
    records the run from the journal. (A stand-in for a full disk: write_run raises
    ENOSPC; the test of the database on a real full disk is in test_runinfo.py.)"""
    import errno

    import psweep.lifecycle.merge as merge_mod

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COUNT", str(tmp_path / "count"))
    real = merge_mod.write_run

    def full(*args, **kwds):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(merge_mod, "write_run", full)
    with pytest.raises(ps.PsweepDiskFullError) as caught:
        ps.run_local(_count, ps.plist("a", [1, 2]))
    err = caught.value
    assert "holds the rows of run" in str(err) and "Nothing is lost" in str(err)
    assert err.filename.endswith("runs.pk") and len(err.rows) == 0 and len(err.df) == 2
    assert len(ps.df_read("calc/database.pk")) == 2
    monkeypatch.setattr(merge_mod, "write_run", real)
    df = ps.run_local(_count, ps.plist("a", [3]))
    assert sorted(df["a"]) == [1, 2, 3]
    runs = ps.df_runs("calc")
    assert runs.loc[err.df["_run_id"].iloc[0], "status"] == "interrupted"
    assert list(runs["status"]) == ["interrupted", "ok"]
