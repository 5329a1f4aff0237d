"""The runs table (calc/runs.pk): a damaged one never costs a run, nor any stored byte."""

from __future__ import annotations

import glob
import logging
import os
import subprocess
import sys
import textwrap

import pytest

import psweep as ps

DAMAGE = {
    "truncated": lambda good: good[: len(good) // 2],
    "garbage": lambda good: b"\x00\xffnot a pickle at all\n" * 3,
    "no DataFrame": lambda good: __import__("pickle").dumps([1, 2, 3]),
}


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def damage(kind: str) -> bytes:
    with open("calc/runs.pk", "rb") as fh:
        bad = DAMAGE[kind](fh.read())
    with open("calc/runs.pk", "wb") as fh:
        fh.write(bad)
    return bad


def aside_when_func_ran(pset):
    return {"aside": len(glob.glob("calc/runs.pk.damaged-*"))}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_runs_table_is_set_aside_before_func_runs(study, kind, caplog):
    """It sets a damaged runs.pk aside (bytes kept) with a warning before func runs, and the
    run and every later one succeed; the database keeps all its rows."""
    first = ps.run_local(lambda p: {"r": p["a"]}, ps.plist("a", [1, 2]))
    bad = damage(kind)
    with caplog.at_level(logging.WARNING, logger="psweep"):
        df = ps.run_local(aside_when_func_ran, ps.plist("a", [3, 4]))
    assert df["aside"].dropna().tolist() == [1, 1]  # set aside before func ran
    (aside,) = glob.glob("calc/runs.pk.damaged-*")
    with open(aside, "rb") as fh:
        assert fh.read() == bad  # nothing of it lost
    assert "runs.pk" in caplog.text and aside in caplog.text and "set aside" in caplog.text
    assert list(df.index[:2]) == list(first.index) and len(df) == 4
    assert ps.df_read("calc/database.pk").equals(df)
    assert list(ps.df_runs("calc").index) == [df["_run_id"].iloc[-1]]
    again = ps.run_local(lambda p: {}, ps.plist("a", [5]))
    assert len(again) == 5 and len(ps.df_runs("calc")) == 2


def damage_runs_table(pset):
    with open("calc/runs.pk", "wb") as fh:
        fh.write(b"damaged while the run went on")
    return {}


def test_a_runs_table_damaged_during_the_run_does_not_fail_it(study):
    """It saves the run even if runs.pk was damaged while func ran."""
    ps.run_local(lambda p: {}, ps.plist("a", [1]))
    df = ps.run_local(damage_runs_table, ps.plist("a", [2, 3]))
    assert len(ps.df_read("calc/database.pk")) == len(df) == 3
    assert len(glob.glob("calc/runs.pk.damaged-*")) == 1
    assert ps.df_runs("calc")["status"].tolist() == ["ok"]


def test_df_runs_names_a_damaged_runs_table_in_one_line(study):
    """df_runs on a damaged runs.pk: one line naming the file and the way out."""
    ps.run_local(lambda p: {}, ps.plist("a", [1]))
    damage("truncated")
    with pytest.raises(ps.PsweepDatabaseError) as info:
        ps.df_runs("calc")
    text = str(info.value)
    assert "\n" not in text
    assert "runs table 'calc/runs.pk' is damaged" in text and "set" in text and "aside" in text
    assert not glob.glob("calc/runs.pk.damaged-*")  # reading never moves a file


CRASH = textwrap.dedent(
    """
    import psweep as ps

    if __name__ == "__main__":
        ps.run_local(lambda p: {"r": p["a"]}, ps.plist("a", range(5)))
    """
)


def test_recovery_with_a_damaged_runs_table(study):
    """A crashed run's journal is recovered although the runs table is damaged."""
    ps.run_local(lambda p: {}, ps.plist("a", [-1]))
    with open("crash.py", "w") as fh:
        fh.write(CRASH)
    env = {**os.environ, "PSWEEP_CRASH_AT": "executed"}
    proc = subprocess.run([sys.executable, "crash.py"], env=env, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    damage("garbage")
    df = ps.run_local(lambda p: {"r": p["a"]}, ps.plist("a", [10]))
    assert sorted(df["a"]) == [-1, 0, 1, 2, 3, 4, 10]
    assert sorted(ps.df_runs("calc")["status"]) == ["interrupted", "ok"]
