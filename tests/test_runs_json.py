"""runs.json: the runs table's plain copy, kept in step with runs.pk, and what status reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

import psweep as ps
from psweep.store.runs_json import plain, read_runs_json
from psweep.store.runs_table import merge_runs


def func(pset):
    if pset["a"] == 2:
        raise ValueError("a=2 is bad")
    return {"r": pset["a"]}


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ps.run_local(func, ps.plist("a", range(4)), on_error="record", progress=False)
    ps.run_local(func, ps.plist("a", range(4, 6)), progress=False)
    return tmp_path


def _status_in_fresh_process(calc_dir: str = "calc") -> tuple[dict, list[str]]:
    code = (
        "import json, sys; import psweep\n"
        f"data = psweep.status({calc_dir!r})\n"
        "print(json.dumps([data, [m for m in ('pandas', 'numpy') if m in sys.modules]]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    data, loaded = json.loads(out.stdout)
    return data, loaded


def _without_clock(data: dict) -> dict:
    """status without what depends on when it is asked (nothing, for finished runs)."""
    return {**data, "time_utc": None}


def test_each_write_of_runs_pk_writes_runs_json(study):
    """After each run, runs.json holds every column of every run of runs.pk as plain values,
    in the same order."""
    runs = pd.read_pickle("calc/runs.pk")
    doc = json.loads((study / "calc" / "runs.json").read_text())
    assert doc["index"] == list(runs.index)
    assert [list(r) for r in doc["runs"]] == [list(map(str, runs.columns))] * len(runs)
    for (_, row), got in zip(runs.iterrows(), doc["runs"], strict=True):
        assert got == {col: plain(val) for col, val in row.items()}
    assert doc["runs"][0]["start_utc"] == runs["start_utc"].iloc[0].isoformat()
    assert doc["runs"][0]["last_error"].startswith("ValueError")


def test_status_reads_runs_json_without_pandas_and_says_the_same(study, monkeypatch):
    """A fresh psweep.status on a finished study imports neither pandas nor numpy, and gives
    what reading runs.pk with pandas gives."""
    fast, loaded = _status_in_fresh_process()
    assert loaded == []
    assert [r["n_done"] for r in fast["runs"]] == [4, 2]
    assert [r["n_failed"] for r in fast["runs"]] == [1, 0]
    os.remove("calc/runs.json")  # now status reads runs.pk
    slow, loaded = _status_in_fresh_process()
    assert loaded != []
    assert _without_clock(fast) == _without_clock(slow)


@pytest.mark.parametrize(
    "spoil",
    ["rewrite_runs_pk", "damage_runs_json", "other_format"],
)
def test_a_runs_json_not_in_step_with_runs_pk_is_not_used(study, spoil):
    """runs.json is read only while runs.pk is the file it copies: after a change of
    runs.pk that did not write runs.json (an older psweep), or a damaged runs.json, status
    reads runs.pk and shows what it holds."""
    fn = study / "calc" / "runs.json"
    if spoil == "rewrite_runs_pk":
        runs = pd.read_pickle("calc/runs.pk")
        runs.loc[runs.index[0], "n_psets"] = 99
        runs.to_pickle("calc/runs.pk")
    elif spoil == "damage_runs_json":
        fn.write_text(fn.read_text()[:50])
    else:
        fn.write_text(json.dumps({**json.loads(fn.read_text()), "format": 99}))
    assert read_runs_json("calc") is None
    data, loaded = _status_in_fresh_process()
    assert loaded != []  # read from runs.pk
    assert [r["n_done"] for r in data["runs"]] == [99 if spoil == "rewrite_runs_pk" else 4, 2]


def test_no_runs_pk_means_no_runs_whatever_runs_json_says(study):
    """runs.json alone (runs.pk set aside or deleted) is no runs table."""
    os.remove("calc/runs.pk")
    assert read_runs_json("calc") is None
    assert ps.status("calc")["runs"] == []


def test_merge_runs_keeps_runs_json_in_step(study):
    """Merging a pulled runs table rewrites runs.json with the merged runs."""
    local = pd.read_pickle("calc/runs.pk")
    other = local.iloc[:1].copy()
    other.index = pd.Index(["remote-run"])
    other["_run_id"] = "remote-run"
    assert merge_runs("calc", other) == 1
    records = read_runs_json("calc")
    assert records is not None
    assert [run_id for run_id, _ in records] == [*local.index, "remote-run"]
    assert ps.df_runs("calc").index.tolist() == [*local.index, "remote-run"]


def test_a_runs_json_that_cannot_be_written_is_logged_not_raised(study, caplog):
    """A run whose runs.json cannot be written (a folder in its way) still ends well; status
    then reads runs.pk."""
    fn = study / "calc" / "runs.json"
    fn.unlink()
    fn.mkdir()
    df = ps.run_local(func, ps.plist("a", [7]), progress=False)
    assert len(df) == 7
    assert "could not write" in caplog.text
    assert [r["n_done"] for r in ps.status("calc")["runs"]] == [4, 2, 1]


def test_runs_json_is_no_database_name(tmp_path):
    """runs.json cannot be chosen as the database's file name."""
    with pytest.raises(ps.PsweepParamsError, match=r"'runs\.json'"):
        ps.run_local(func, ps.plist("a", [1]), calc_dir=tmp_path, database_basename="runs.json")


def test_plain_values():
    """plain: missing values None, times ISO text, numpy numbers Python numbers."""
    import numpy as np

    assert plain(pd.NaT) is None
    assert plain(np.float64("nan")) is None
    assert plain(None) is None
    assert plain(pd.Timestamp("2026-01-02 03:04:05.123456789")) == "2026-01-02T03:04:05.123456789"
    assert plain(pd.Timedelta(seconds=1.5)) == pd.Timedelta(seconds=1.5).isoformat()
    assert plain(np.int64(3)) == 3 and type(plain(np.int64(3))) is int
    assert plain(True) is True
    assert plain("x") == "x"


def test_status_command_of_a_finished_study_imports_no_pandas(study):
    """``psweep status`` (the command, with its table and its hint about batch jobs) on a
    finished study answers without importing pandas or numpy."""
    code = (
        "import sys\n"
        "sys.argv = ['psweep', 'status', 'calc']\n"
        "from psweep.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print([m for m in ('pandas', 'numpy') if m in sys.modules], file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "finished" in out.stdout
    assert out.stderr.strip().splitlines()[-1] == "[]"
