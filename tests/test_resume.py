"""Tests of failures, resume (skip_dups), option checks, concurrency and provenance."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import psweep as ps

ROOT = Path(__file__).resolve().parents[1]
RESERVED = set(ps.RESERVED_COLUMNS)


def func(pset):
    return {"r": pset["a"] * 2}


def fail_odd(pset):
    if pset["a"] % 2:
        raise ValueError(f"odd a={pset['a']}")
    return {"r": pset["a"] * 2}


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("poolsize", [None, 2])
def test_on_error_record(study, poolsize):
    """It records failing psets with status and traceback and runs all others."""
    df = ps.run_local(fail_odd, ps.plist("a", range(6)), on_error="record", poolsize=poolsize)
    assert df["_pset_status"].tolist() == ["ok", "failed"] * 3
    failed = df[df["_pset_status"] == "failed"]
    assert failed["r"].isna().all()
    for a, exc in zip(failed["a"], failed["_exc"], strict=True):
        assert exc.startswith("Traceback")
        assert f"ValueError: odd a={a}" in exc
    assert df.loc[df["_pset_status"] == "ok", "_exc"].isna().all()
    assert df["_pset_seq"].tolist() == list(range(6))
    runs = ps.df_runs()
    assert runs["n_failed"].iloc[0] == 3
    assert runs["status"].iloc[0] == "ok"


def test_status_columns_only_with_record(study):
    """It adds _pset_status and _exc only when on_error='record' is used."""
    df = ps.run_local(func, ps.plist("a", [1]))
    assert set(c for c in df.columns if c.startswith("_")) == RESERVED


def test_record_non_dict_return(study):
    """It records a func that returns a non-dict as a failure."""
    df = ps.run_local(lambda p: 5, ps.plist("a", [1]), on_error="record")
    assert df["_pset_status"].iloc[0] == "failed"
    assert "PsweepFuncError" in df["_exc"].iloc[0]


def test_resume_reruns_failed_and_missing(study):
    """It reruns exactly the failed and the missing psets with skip_dups."""
    ps.run_local(fail_odd, ps.plist("a", range(6)), on_error="record")
    seen = []

    def track(pset):
        seen.append(pset["a"])
        return {"r": pset["a"] * 2}

    df = ps.run_local(track, ps.plist("a", range(8)), skip_dups=True, on_error="record")
    assert sorted(seen) == [1, 3, 5, 6, 7]
    assert len(df) == 6 + 5
    ok = df[df["_pset_status"] == "ok"]
    assert sorted(ok["a"]) == list(range(8))
    seen.clear()
    df2 = ps.run_local(track, ps.plist("a", range(8)), skip_dups=True)
    assert seen == []
    assert df2.equals(df)


def test_skip_dups_returns_full_database(study):
    """It returns the whole database when nothing is new, and writes nothing."""
    df = ps.run_local(func, ps.plist("a", range(3)))
    stamp = os.stat("calc/database.pk").st_mtime_ns
    again = ps.run_local(func, ps.plist("a", range(3)), skip_dups=True)
    assert again.equals(df)
    assert os.stat("calc/database.pk").st_mtime_ns == stamp
    assert len(ps.df_runs()) == 1


def test_skip_dups_numpy_values(study):
    """It recognises psets read back from the database (numpy values) as done."""
    df = ps.run_local(func, ps.plist("a", [1, 2]))
    params = df[["a"]].to_dict("records")  # numpy ints
    assert ps.run_local(func, params, skip_dups=True).equals(df)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(st.integers(0, 30), min_size=1, max_size=15),
    fail=st.sets(st.integers(0, 30)),
    cuts=st.lists(st.integers(0, 15), min_size=1, max_size=3),
)
def test_resume_never_runs_a_successful_pset_twice(tmp_path_factory, values, fail, cuts):
    """It never runs a pset again once it succeeded, however the study is resumed."""
    calc_dir = str(tmp_path_factory.mktemp("p") / "calc")
    runs: list[int] = []
    fails_left = set(fail)

    def flaky(pset):
        runs.append(pset["a"])
        if pset["a"] in fails_left:
            fails_left.discard(pset["a"])
            raise RuntimeError("transient")
        return {}

    params = ps.plist("a", sorted(set(values)))
    for cut in [*cuts, len(params)]:
        ps.run_local(flaky, params[:cut], calc_dir=calc_dir, skip_dups=True, on_error="record")
    ps.run_local(flaky, params, calc_dir=calc_dir, skip_dups=True, on_error="record")
    ok_runs = pd.Series(runs, dtype=int)
    df = ps.df_read(f"{calc_dir}/database.pk")
    ok = df[df["_pset_status"] == "ok"]
    assert ok["a"].is_unique
    assert sorted(ok["a"]) == [p["a"] for p in params]
    for a in ok["a"]:
        assert (ok_runs == a).sum() == 1 + (a in fail)  # one failure at most, one success


@pytest.mark.parametrize(
    ("kwds", "match"),
    [
        ({"on_error": "ignore"}, "raise, record"),
        ({"poolsize": 0}, "poolsize"),
        ({"poolsize": 2, "dask_client": object()}, "either poolsize"),
        ({"dask_client": object()}, "dask.distributed Client"),
        ({"database_basename": "a/b.pk"}, "database_basename"),
        ({"lock_timeout_s": -1}, "lock_timeout_s"),
    ],
)
def test_invalid_options_before_anything(study, kwds, match):
    """It rejects invalid options with the valid choices, before running or writing."""
    calls = []
    with pytest.raises(ValueError, match=match):
        ps.run_local(lambda p: calls.append(p) or {}, ps.plist("a", [1]), **kwds)
    assert calls == []
    assert os.listdir(study) == []


def test_provenance(study):
    """It records where and how each run ran, beside the database."""
    df = ps.run_local(func, ps.plist("a", [1, 2]))
    runs = ps.df_runs()
    assert list(runs.index) == [df["_run_id"].iloc[0]]
    row = runs.iloc[0]
    assert row["status"] == "ok"
    assert row["n_psets"] == 2
    assert row["start_utc"] <= row["end_utc"]
    for key in ("host", "user", "python", "psweep", "pandas", "command", "cwd"):
        assert isinstance(row[key], str) and row[key]
    assert row["psweep"] == ps.__version__
    assert pd.isna(row["git_commit"])
    assert set(df.columns) == RESERVED | {"a", "r"}


def test_provenance_git(study):
    """It records the git commit and dirty flag of the working directory."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    for cmd in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(["git", *cmd], check=True, env=env)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    ps.run_local(func, ps.plist("a", [1]))
    row = ps.df_runs().iloc[0]
    assert row["git_commit"] == head.strip()
    assert row["git_dirty"] in (True, False)


def test_failed_run_recorded(study):
    """It records a run that func stopped as failed, with the rows that finished."""
    with pytest.raises(ValueError):
        ps.run_local(fail_odd, ps.plist("a", [0, 2, 3, 4]))
    runs = ps.df_runs()
    assert runs["status"].tolist() == ["failed"]
    assert runs["n_psets"].tolist() == [2]
    assert not any(Path("calc/.psweep/journal").iterdir())


WRITER = textwrap.dedent(
    """
    import sys, time
    import psweep as ps

    def func(pset):
        time.sleep(0.002)
        return {"who": sys.argv[1]}

    if __name__ == "__main__":
        for chunk in range(4):
            params = ps.plist("a", range(chunk * 50, chunk * 50 + 50))
            ps.run_local(func, params)
    """
)


def test_concurrent_writers_lose_no_rows(study):
    """It keeps every row when two processes write the same database at once."""
    Path("writer.py").write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "writer.py", who], env=env) for who in ("A", "B")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    df = ps.df_read("calc/database.pk")
    assert len(df) == 400
    assert df["_pset_id"].is_unique
    assert sorted(df["_pset_seq"]) == list(range(400))
    assert sorted(df["_run_seq"].unique()) == list(range(8))
    assert (df.groupby("who")["a"].apply(sorted).map(len) == 200).all()
    assert len(ps.df_runs()) == 8


def test_lock_timeout_names_lock_file(study):
    """It gives up waiting for a held lock with an error naming the lock file."""
    import filelock

    ps.run_local(func, ps.plist("a", [1]))
    lock = filelock.FileLock("calc/.psweep/database.pk.lock", thread_local=False)
    lock.acquire()
    try:
        with pytest.raises(ps.PsweepLockError, match=r"database\.pk\.lock"):
            ps.run_local(func, ps.plist("a", [2]), lock_timeout_s=0.2)
    finally:
        lock.release()
    df = ps.df_read("calc/database.pk")
    assert df["a"].tolist() == [1]
    df = ps.run_local(func, ps.plist("a", [3]))
    assert df["a"].tolist() == [1, 2, 3]


def test_pset_id_collision_detected(study):
    """It refuses to append rows whose _pset_id is already in the database."""
    from psweep.lifecycle.merge import merge_run
    from psweep.lifecycle.rows import rows_to_df

    df = ps.run_local(func, ps.plist("a", [1]))
    clash = rows_to_df(
        [0], [{"a": 9}], [df.index[0]], ["h"], [0], [0.0], [{}], [None],
        run_id="r", run_seq=1, pset_seq0=1, calc_dir="calc", record=False,
    )  # fmt: skip
    with pytest.raises(ps.PsweepDatabaseError, match=df.index[0]):
        merge_run("calc/database.pk", clash, None, df)
    assert ps.df_read("calc/database.pk").equals(df)


def test_progress_bar_on_request(study, capfd):
    """It draws a progress bar on stderr with progress=True, and none by default."""
    ps.run_local(fail_odd, ps.plist("a", range(4)), on_error="record", progress=True)
    err = capfd.readouterr().err
    assert "4/4" in err
    assert "failed=2" in err
    ps.run_local(func, ps.plist("a", range(4)), calc_dir="quiet")
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


KILL_AFTER_MERGE = """\
import os, sys
import psweep as ps
import psweep.lifecycle.runinfo

PARENT = os.getpid()
remove_run_dir = psweep.lifecycle.runinfo.remove_run_dir


def die(path):  # the run dies after the database was written, before the journal is gone
    if os.getpid() == PARENT:
        os._exit(9)
    remove_run_dir(path)

def double(pset):
    return {"r": pset["a"] * 2}

if __name__ == "__main__":
    psweep.lifecycle.runinfo.remove_run_dir = die
    ps.run_local(double, ps.plist("a", range(5)), poolsize=POOL)
"""


@pytest.mark.parametrize("poolsize", [None, 2])
def test_kill_after_merge_before_journal_removal(study, poolsize):
    """Issue 10 case 1: a death between database write and journal removal bricks nothing."""
    (study / "driver.py").write_text(KILL_AFTER_MERGE.replace("POOL", repr(poolsize)))
    proc = subprocess.run([sys.executable, "driver.py"], cwd=study, capture_output=True)
    assert proc.returncode == 9, proc.stderr
    assert len(ps.df_read("calc/database.pk")) == 5
    assert os.listdir("calc/.psweep/journal")  # the journal is still there
    df = ps.recover("calc")  # merges nothing twice, removes the journal
    assert len(df) == 5 and df.index.is_unique
    assert os.listdir("calc/.psweep/journal") == []
    df = ps.run_local(func, ps.plist("a", [7]))  # and the next run works
    assert df["_pset_seq"].tolist() == list(range(6))
    assert df["a"].tolist() == [0, 1, 2, 3, 4, 7]
    assert ps.df_runs("calc")["status"].tolist() == ["ok", "ok"]


def test_next_run_recovers_a_merged_journal(study):
    """The same state, recovered by the next run_local instead of ps.recover."""
    (study / "driver.py").write_text(KILL_AFTER_MERGE.replace("POOL", "None"))
    subprocess.run([sys.executable, "driver.py"], cwd=study, capture_output=True)
    df = ps.run_local(func, ps.plist("a", [7]))
    assert len(df) == 6 and df.index.is_unique
    assert os.listdir("calc/.psweep/journal") == []


@pytest.mark.parametrize("key", ["_pset_id", "_run_id", "_pset_seq", "_exc"])
def test_reserved_key_refused_before_running(study, key):
    """Issue 10 case 5: a pset key that psweep fills in itself stops the run before it starts."""
    calls = []

    def record_call(pset):
        calls.append(pset)
        return {}

    with pytest.raises(ps.PsweepParamsError, match=rf"params\[1\] has the key '{key}'"):
        ps.run_local(record_call, [{"a": 1}, {"a": 2, key: "mine"}])
    assert calls == []
    assert not os.path.exists("calc")


@pytest.mark.parametrize("poolsize", [None, 2])
def test_params_read_back_from_the_database(study, poolsize):
    """Whole database rows are psets: their bookkeeping is dropped, the run makes its own."""
    df = ps.run_local(fail_odd, ps.plist("a", range(4)), on_error="record")
    rows = df.to_dict("records")  # parameters, results and bookkeeping
    df2 = ps.run_local(func, rows, poolsize=poolsize)
    new = df2[df2["_run_seq"] == 1]
    assert len(new) == 4 and df2.index.is_unique and not new.index.isin(df.index).any()
    assert df2.columns.is_unique
    assert new["_pset_seq"].tolist() == [4, 5, 6, 7]
    assert (new["_pset_status"] == "ok").all()
    # rows with the parameter and the bookkeeping only hash as the psets did when they ran
    rows = df[["a", *ps.RESERVED_COLUMNS]].to_dict("records")
    df3 = ps.run_local(func, rows, skip_dups=True)
    # a=1 and a=3 failed in the first run (and the second ran them with their results as
    # parameters, another hash): only those two run again
    assert df3["a"].iloc[len(df2) :].tolist() == [1, 3]


@pytest.mark.parametrize("name", [".", "..", ".psweep", "runs.pk", "sub"])
def test_database_basename_taken(study, name):
    """Issue 10 case 15: names that are folders or psweep's own files get a clear error."""
    os.makedirs("calc/sub")
    with pytest.raises(ps.PsweepParamsError, match="database_basename"):
        ps.run_local(func, ps.plist("a", [1]), database_basename=name)
    assert sorted(os.listdir("calc")) == ["sub"]  # nothing written


def test_failed_final_save_leaves_no_stale_run(study, monkeypatch):
    """Issue 10 case 11: after a final save that failed, the next call in the same process
    recovers that run's journal instead of taking it for a run still going."""
    import psweep.lifecycle.runinfo

    real = psweep.lifecycle.runinfo.merge_run
    calls = []

    def fail_once(*args, **kwds):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(*args, **kwds)

    monkeypatch.setattr(psweep.lifecycle.runinfo, "merge_run", fail_once)
    with pytest.raises(OSError, match="No space left") as failed:
        ps.run_local(func, ps.plist("a", [1, 2, 3]))
    # Jupyter keeps the last traceback, and with it the failed call's frame, alive
    monkeypatch.setattr(psweep.lifecycle.runinfo, "merge_run", real)
    df = ps.run_local(func, ps.plist("a", [4]))  # same process: recovers, then runs
    assert df["a"].tolist() == [1, 2, 3, 4]
    assert os.listdir("calc/.psweep/journal") == []
    assert failed.traceback  # still alive up to here


def test_stale_df_keeps_rows_of_other_runs(study):
    """Issue 10 case 4: a DataFrame read before another process ran keeps that run's rows,
    and a column added to it (post-processing in a notebook) is kept too."""
    ps.run_local(func, ps.plist("a", [1, 2]))
    stale = ps.df_read("calc/database.pk")
    stale["note"] = "checked"
    code = "import psweep as ps; ps.run_local(lambda p: {'r': 0}, ps.plist('a', [5, 6]))"
    subprocess.run([sys.executable, "-c", code], cwd=study, check=True)
    df = ps.run_local(func, ps.plist("a", [3]), df=stale)
    assert df["a"].tolist() == [1, 2, 5, 6, 3]
    assert df["_pset_seq"].tolist() == [0, 1, 2, 3, 4]
    assert df["note"].tolist()[:2] == ["checked", "checked"]
    assert ps.df_read("calc/database.pk").equals(df)


def test_stale_df_after_a_crash_keeps_recovered_rows(study):
    """The rows that the next run recovers from a killed run's journal survive a stale df."""
    ps.run_local(func, ps.plist("a", [1]))
    stale = ps.df_read("calc/database.pk")
    # a killed run whose rows are only in its journal
    (study / "driver.py").write_text(
        "import os, psweep as ps, psweep.lifecycle.runinfo\n"
        "psweep.lifecycle.runinfo.merge_run = lambda *a, **k: os._exit(9)\n"
        "ps.run_local(lambda p: {'r': 0}, ps.plist('a', [7, 8]))\n"
    )
    proc = subprocess.run([sys.executable, "driver.py"], cwd=study)
    assert proc.returncode == 9
    df = ps.run_local(func, ps.plist("a", [3]), df=stale)
    assert sorted(df["a"]) == [1, 3, 7, 8]


def test_int_column_with_none_reads_back_as_it_ran(study):
    """Issue 10 case 14: ints mixed with None stay ints and None; read-back psets are dups."""
    params = [{"n": 1}, {"n": None}, {"n": 3}]
    df = ps.run_local(func_n, params)
    assert df["n"].tolist() == [1, None, 3]
    back = ps.df_read("calc/database.pk")[["n"]].to_dict("records")
    assert back == params
    df = ps.run_local(func_n, back, skip_dups=True)
    assert len(df) == 3  # nothing ran again


def func_n(pset):
    return {"r": 0}


def test_skip_dups_with_rich_values(study, caplog):
    """Sets, dates and non-string keys are skipped when done; values without a stable text
    run again, with a warning that says so."""
    import datetime

    params = [{"s": {1, 2}}, {"t": datetime.date(2024, 1, 1)}, {"k": {1: "x"}}]
    ps.run_local(func_n, params)
    df = ps.run_local(func_n, [*params, {"k": {"1": "x"}}], skip_dups=True)
    assert len(df) == 4  # only the pset with the string key was new
    ps.run_local(func_n, [{"o": object()}], skip_dups=True)
    assert "have no hash" not in caplog.text  # known by its pickle now


class Model:
    """A parameter value that is an object: psets hold it, its class and its method."""

    def __init__(self, order):
        self.order = order


def test_skip_dups_knows_functions_classes_and_objects_by_name(study, caplog):
    """Psets holding functions, ufuncs, classes or objects have no pset_hash, yet skip_dups
    finds them done, read back from the database file, by name (objects by their pickle)
    as psweep 0.16 does; an object with other state is new."""
    params = [
        {"a": 1, "f": np.sin},
        {"a": 2, "f": ps.pset_hash},
        {"a": 3, "f": Model},
        {"a": 4, "f": Model(2)},
        {"a": 5, "f": Model(2), "g": None},
    ]
    ps.run_local(func_n, params)
    back = ps.df_read("calc/database.pk")
    assert back["_pset_sha1"].isna().all()
    again = [{"a": 1, "f": np.sin}, {"a": 4, "f": Model(2)}, {"a": 5, "f": Model(2)}]
    df = ps.run_local(func_n, [*params, *again, {"a": 4, "f": Model(3)}], skip_dups=True)
    assert len(df) == 6  # only Model(3) ran
    assert df["f"].iloc[-1].order == 3
    assert "have no hash" not in caplog.text


class Scaler:
    """A parameter whose methods are values of psets."""

    def __init__(self, k):
        self.k = k

    def apply(self, x):
        return self.k * x

    @classmethod
    def make(cls):
        return cls.__name__


class SubScaler(Scaler):
    pass


def func_f(pset):
    return {"y": repr(pset["f"])}


def test_skip_dups_by_name_takes_nothing_new_for_done(study, caplog):
    """Psets without a hash that differ from every row run (findings of an adversarial
    test): a method bound to another object, a classmethod of a subclass, a key that is
    a result column of the database, a key that a later run added. Only the pset that ran
    with exactly these parameters is skipped."""
    ps.run_local(func_f, [{"f": Scaler(2).apply}, {"f": Scaler.make}, {"f": np.sin}])
    ps.run_local(func_f, [{"f": np.cos, "x": 1}])  # x: a parameter added by a later run
    new = [
        {"f": Scaler(3).apply},
        {"f": SubScaler.make},
        {"f": np.sin, "y": "<ufunc 'sin'>"},  # y: the name of a result
        {"f": np.cos, "x": 2},
    ]
    again = [{"f": Scaler(2).apply}, {"f": Scaler.make}, {"f": np.sin}]
    df = ps.run_local(func_f, [*again, *new], skip_dups=True)
    last = df[df["_run_id"] == df["_run_id"].iloc[-1]]
    assert len(df) == 4 + len(new) and len(last) == len(new)
    assert "2 psets have no hash" in caplog.text  # y and x: the database cannot tell


def test_skip_dups_never_takes_one_lambda_for_another(caplog):
    """Lambdas and functions made inside functions have no name that tells them apart (nor
    can a database file store them): they run again, with a warning that says why."""

    def local(x):
        return x

    df = ps.run_local(func_n, [{"f": lambda x: x}, {"f": local}], save=False)
    df = ps.run_local(
        func_n, [{"f": lambda x: 2 * x}, {"f": local}], df=df, save=False, skip_dups=True
    )
    assert len(df) == 4
    assert "2 psets have no hash" in caplog.text
