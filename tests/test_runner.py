"""Tests of run_local: the database, its reserved columns, backup, simulate, pools."""

from __future__ import annotations

import os
import pickle
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import psweep as ps

RESERVED = [
    "_run_id",
    "_pset_id",
    "_run_seq",
    "_pset_seq",
    "_pset_sha1",
    "_pset_runtime",
    "_calc_dir",
    "_time_utc",
]


def func(pset):
    return {"result": pset["a"] * 10}


def func_empty(pset):
    return {}


def func_fail_at_3(pset):
    if pset["a"] == 3:
        raise ZeroDivisionError("a is three")
    return {"result": pset["a"]}


def func_specials(pset):
    return {key: pset[key] for key in ("_run_id", "_pset_id", "_calc_dir")} | {
        "seen_keys": ",".join(sorted(k for k in pset if k.startswith("_")))
    }


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def read_db(path="calc/database.pk"):
    return pd.read_pickle(path)


def test_reserved_columns_exactly(study):
    """It adds exactly the reserved columns of psweep 0.7.0, indexed by _pset_id, in
    memory and on disk."""
    df = ps.run_local(func, ps.plist("a", [1, 2, 3]))
    assert sorted(c for c in df.columns if c.startswith("_")) == sorted(RESERVED)
    assert sorted(RESERVED) == sorted(ps.RESERVED_COLUMNS)
    assert list(df.index) == list(df["_pset_id"])
    assert ps.df_read("calc/database.pk").equals(df)
    for col in ("_run_id", "_pset_id"):
        for val in df[col]:
            assert uuid.UUID(val).version == 4
    assert df["_run_id"].nunique() == 1
    assert df["_pset_id"].nunique() == 3
    assert df["_pset_seq"].tolist() == [0, 1, 2]
    assert df["_run_seq"].tolist() == [0, 0, 0]
    assert df["_pset_sha1"].tolist() == [ps.pset_hash({"a": a}) for a in (1, 2, 3)]
    assert df["_calc_dir"].tolist() == ["calc"] * 3
    assert pd.api.types.is_datetime64_any_dtype(df["_time_utc"])
    assert df["_pset_runtime"].dtype == np.float64
    assert (df["_pset_runtime"] >= 0).all()
    assert df["result"].tolist() == [10, 20, 30]


def test_database_written_and_returned(study):
    """It writes calc/database.pk holding the same frame it returns."""
    df = ps.run_local(func, ps.plist("a", [1, 2]))
    assert read_db().equals(df)
    assert ps.df_read("calc/database.pk").equals(df)


def test_spec_getting_started_hashes(study):
    """It gives the spec's hashes for the getting-started grid."""
    df = ps.run_local(func_empty, ps.pgrid(ps.plist("a", [1, 2, 3]), ps.plist("b", [88, 99])))
    assert df["_pset_sha1"].iloc[0] == "088056f830758f949823ddc52bf8527f3e727b45"
    assert df["_pset_sha1"].iloc[-1] == "2e6c6c9a2b05115fced36edab5cafb038c926176"


def test_func_gets_specials(study):
    """It passes the pset plus the reserved fields to func."""
    df = ps.run_local(func_specials, ps.plist("a", [1]))
    row = df.iloc[0]
    assert row["_pset_id"] == df.index[0]
    assert row["seen_keys"] == ",".join(sorted(set(RESERVED) - {"_pset_runtime"}))
    assert isinstance(row["_time_utc"], pd.Timestamp)


def test_func_sees_the_time_the_database_stores(study):
    """_time_utc as func gets it is the value in the row (a Timestamp), to the nanosecond."""
    df = ps.run_local(lambda p: {"seen": p["_time_utc"]}, ps.plist("a", [1, 2]))
    assert (df["seen"] == df["_time_utc"]).all()
    assert all(isinstance(v, pd.Timestamp) for v in df["seen"])


def test_a_database_keeps_the_016_columns_it_has(study):
    """After ps.run (0.16's columns, indexed by _pset_seq), run_local reads the database,
    gives its new rows _pset_hash and _exec_host too, and writes it indexed by _pset_id;
    ps.run then fills _pset_hash of rows that lack it."""
    ps.run(func, ps.plist("a", [1, 2]))
    on_disk = ps.df_read("calc/database.pk")
    assert list(on_disk.index) == [0, 1] and "_pset_sha1" not in on_disk.columns
    df = ps.run_local(func, ps.plist("a", [3]))
    assert list(df.index) == list(df["_pset_id"])
    assert df["_pset_hash"].tolist() == df["_pset_sha1"].tolist()
    assert df["_exec_host"].notna().all()
    again = ps.run_local(func, ps.plist("a", [1, 2, 3]), skip_dups=True)
    assert len(again) == 3  # the hashes that ps.run stored are ours
    fresh = ps.run_local(func, ps.plist("a", [1]), calc_dir="other")
    assert "_pset_hash" not in fresh.columns
    back = ps.run(func, ps.plist("a", [2]), calc_dir="other")
    assert back["_pset_hash"].notna().all() and list(back.index) == [0, 1]


def test_empty_dict_is_fine(study):
    """It accepts func returning an empty dict."""
    df = ps.run_local(func_empty, ps.plist("a", [1, 2]))
    assert len(df) == 2
    assert "a" in df.columns


def test_func_returning_pset(study):
    """It accepts func returning the updated pset, reserved fields included."""
    df = ps.run_local(lambda pset: {**pset, "r": 1}, ps.plist("a", [1, 2]))
    assert df["r"].tolist() == [1, 1]
    assert df["_pset_seq"].tolist() == [0, 1]


@pytest.mark.parametrize("bad", [None, 3, [1], "x"])
def test_func_must_return_dict(study, bad):
    """It raises TypeError naming the pset when func returns a non-dict."""
    with pytest.raises(TypeError, match=r"'a': 7"):
        ps.run_local(lambda pset: bad, ps.plist("a", [7]))
    assert not os.path.exists("calc/database.pk")


def test_appending_keeps_old_rows_and_dtypes(study):
    """It appends later runs and keeps the old rows and dtypes unchanged."""
    df_old = ps.run_local(func, ps.plist("a", [1, 2]))
    df_new = ps.run_local(func, ps.plist("a", [3, 4, 5]))
    assert len(df_new) == 5
    assert df_old.equals(df_new.iloc[: len(df_old)])
    assert df_new["_run_seq"].tolist() == [0, 0, 1, 1, 1]
    assert df_new["_pset_seq"].tolist() == [0, 1, 2, 3, 4]
    assert df_new["_run_id"].nunique() == 2
    assert read_db().equals(df_new)


def test_appending_new_columns(study):
    """It adds result columns that appear in later runs, old rows get NaN there."""
    df_old = ps.run_local(func, ps.plist("a", [1]))
    df_new = ps.run_local(lambda p: {"result": 0, "other": "x"}, ps.plist("a", [2]))
    assert df_old.equals(df_new[df_old.columns].iloc[:1])
    assert pd.isna(df_new["other"].iloc[0])
    assert df_new["other"].iloc[1] == "x"


def test_same_params_twice(study):
    """It runs the same params again: two run ids, the same hashes twice."""
    params = ps.plist("a", [1, 2, 3])
    ps.run_local(func, params)
    df = ps.run_local(func, params)
    assert df["_run_id"].nunique() == 2
    assert df["_pset_id"].nunique() == 6
    first, second = (g["_pset_sha1"].tolist() for _, g in df.groupby("_run_seq"))
    assert first == second


def test_df_passed_in(study):
    """It appends to a DataFrame passed in, and save=False writes nothing."""
    df0 = ps.run_local(func, ps.plist("a", [1]), save=False)
    df1 = ps.run_local(func, ps.plist("a", [2]), save=False, df=df0)
    assert len(df1) == 2
    assert df1["_pset_seq"].tolist() == [0, 1]
    assert df1["_run_seq"].tolist() == [0, 1]
    assert os.listdir(study) == []


def test_empty_df_counts_as_none(study):
    """It treats an empty DataFrame like df=None and reads the database on disk."""
    ps.run_local(func, ps.plist("a", [1]))
    df = ps.run_local(func, ps.plist("a", [2]), df=pd.DataFrame())
    assert len(df) == 2


def test_custom_calc_dir_and_basename(study):
    """It writes the database named by calc_dir and database_basename."""
    df = ps.run_local(func, ps.plist("a", [1]), calc_dir="out dir", database_basename="db.pk")
    assert read_db("out dir/db.pk").equals(df)
    assert df["_calc_dir"].tolist() == ["out dir"]


def test_tmpsave(study):
    """It saves each pset's row under tmpsave/<_run_id>/<_pset_id>.pk."""
    df = ps.run_local(func, ps.plist("a", [1, 2]), tmpsave=True)
    run_id = df["_run_id"].iloc[0]
    for pset_id in df["_pset_id"]:
        row = read_db(f"calc/tmpsave/{run_id}/{pset_id}.pk")
        assert len(row) == 1
        assert row["_pset_id"].iloc[0] == pset_id
        assert row["result"].iloc[0] == df.loc[pset_id, "result"]


def test_verbose(study, capsys):
    """It prints each row with verbose=True and only named columns with a list."""
    ps.run_local(func, ps.plist("a", [1, 2]), verbose=True)
    out = capsys.readouterr().out
    assert "_pset_id" in out
    ps.run_local(func, ps.plist("a", [5]), verbose=["a"])
    out = capsys.readouterr().out
    assert "_pset_id" not in out
    assert "5" in out


def test_backup(study):
    """It copies calc/ to calc.bak_<UTC time>Z_run_id_<last run id> before running."""
    df0 = ps.run_local(func, ps.plist("a", [1]))
    os.makedirs(f"calc/{df0.index[0]}")
    with open(f"calc/{df0.index[0]}/out.txt", "w") as fh:
        fh.write("data")
    ps.run_local(func, ps.plist("a", [2]), backup=True)
    baks = [d for d in os.listdir() if d.startswith("calc.bak_")]
    assert len(baks) == 1
    bak = baks[0]
    assert bak.endswith(f"Z_run_id_{df0['_run_id'].iloc[-1]}")
    stamp = bak[len("calc.bak_") : bak.index("Z_run_id_")]
    pd.Timestamp(stamp)  # ISO format
    assert read_db(f"{bak}/database.pk").equals(df0)
    with open(f"{bak}/{df0.index[0]}/out.txt") as fh:
        assert fh.read() == "data"
    assert len(read_db()) == 2


def test_backup_without_calc_dir(study):
    """It makes no backup when there is nothing to back up yet."""
    ps.run_local(func, ps.plist("a", [1]), backup=True)
    assert [d for d in os.listdir() if d.startswith("calc.bak")] == []


def test_simulate(study):
    """It runs in calc.simulate/ on a copy of the database without calling func."""
    ps.run_local(func, ps.plist("a", [1, 2]))
    before = Path("calc/database.pk").read_bytes()
    listing = sorted(os.listdir("calc"))
    calls = []
    df = ps.run_local(lambda p: calls.append(p) or {"result": 0}, ps.plist("a", [3]), simulate=True)
    assert calls == []
    assert Path("calc/database.pk").read_bytes() == before
    assert sorted(os.listdir("calc")) == listing
    sim = read_db("calc.simulate/database.pk")
    assert sim.equals(df)
    assert len(sim) == 3
    assert sim["_pset_seq"].tolist() == [0, 1, 2]
    assert sim["result"].isna().tolist() == [False, False, True]
    assert sim["_calc_dir"].iloc[-1] == "calc.simulate"


def test_simulate_fresh(study):
    """It simulates a first run too; calc/ is not created."""
    df = ps.run_local(func, ps.plist("a", [1]), simulate=True)
    assert not os.path.exists("calc")
    assert len(read_db("calc.simulate/database.pk")) == 1
    assert "result" not in df.columns


def test_pool_same_rows_as_serial(study):
    """It gives the same rows under poolsize=2 as in a serial run."""
    params = ps.pgrid(ps.plist("a", list(range(20))), ps.plist("b", [1, 2]))
    serial = ps.run_local(func, params, calc_dir="serial")
    pool = ps.run_local(func, params, calc_dir="pool", poolsize=2)
    cols = ["a", "b", "result", "_pset_seq", "_run_seq", "_pset_sha1"]
    assert serial[cols].reset_index(drop=True).equals(pool[cols].reset_index(drop=True))
    pool2 = ps.run_local(func, params, calc_dir="pool", poolsize=2)
    assert pool2["_pset_seq"].tolist() == list(range(80))


def test_pool_needs_picklable_func(study):
    """It rejects a lambda under poolsize with a hint, before writing anything."""
    with pytest.raises(ValueError, match="pickled"):
        ps.run_local(lambda p: {}, ps.plist("a", [1]), poolsize=2)
    assert os.listdir(study) == []


@pytest.mark.parametrize("poolsize", [None, 2])
def test_func_raises(study, poolsize):
    """It propagates func's exception naming the pset, keeping finished rows and old ones."""
    ps.run_local(func, ps.plist("a", [10]))
    with pytest.raises(ZeroDivisionError) as info:
        ps.run_local(func_fail_at_3, ps.plist("a", [1, 2, 3, 4]), poolsize=poolsize)
    assert any("'a': 3" in note for note in getattr(info.value, "__notes__", []))
    df = read_db()
    if poolsize is None:
        assert df["a"].tolist() == [10, 1, 2]
    else:
        # psets run in two workers that stop at their next pset once a=3 fails: a=4 may
        # finish meanwhile, and on a busy machine a worker may not have begun a=1 yet
        assert df["a"].tolist()[0] == 10
        assert set(df["a"].tolist()[1:]) <= {1, 2, 4}
        assert len(df) >= 2
    assert df["_pset_seq"].tolist() == list(range(len(df)))


def test_run_takes_the_arguments_of_016_in_their_order(study):
    """run() has psweep 0.16's positional order: dask_client is the fifth, save the sixth."""
    import inspect

    names = list(inspect.signature(ps.run).parameters)
    assert names[:16] == [
        "func", "params", "df", "poolsize", "dask_client", "save", "tmpsave", "verbose",
        "calc_dir", "simulate", "database_basename", "backup", "git", "skip_dups",
        "capture_logs", "fill_value",
    ]  # fmt: skip
    df = ps.run(func, ps.plist("a", [1, 2]), None, None, None, False)
    assert len(df) == 2
    assert not os.path.exists("calc/database.pk")  # save=False, given positionally


@pytest.mark.parametrize(
    "params",
    [[{"a": 1}, 2], [["a", 1]], {"a": 1}, 5],
    ids=["int-pset", "list-pset", "dict-params", "int-params"],
)
def test_bad_params(study, params):
    """It rejects params that are not a list of dicts, naming the culprit."""
    with pytest.raises(ValueError, match=r"pset|params"):
        ps.run_local(func, params)
    assert os.listdir(study) == []


@pytest.mark.parametrize("poolsize", [0, -1, 1.5, "2", True])
def test_bad_poolsize(study, poolsize):
    """It rejects a poolsize that is not a whole number >= 1."""
    with pytest.raises(ValueError, match="poolsize"):
        ps.run_local(func, ps.plist("a", [1]), poolsize=poolsize)


def test_calc_dir_is_a_file(study):
    """It refuses a calc_dir that is a file and leaves the file alone."""
    with open("calc", "w") as fh:
        fh.write("x")
    with pytest.raises(ValueError, match="not a directory"):
        ps.run_local(func, ps.plist("a", [1]))
    assert Path("calc").read_text() == "x"


def test_corrupt_database(study):
    """It stops with a clear error on a corrupt database and leaves the file as it is."""
    os.makedirs("calc")
    with open("calc/database.pk", "wb") as fh:
        fh.write(b"\x80\x04garbage")
    with pytest.raises(ps.PsweepDatabaseError, match=r"database\.pk"):
        ps.run_local(func, ps.plist("a", [1]))
    assert Path("calc/database.pk").read_bytes() == b"\x80\x04garbage"


def test_unhashable_values(study):
    """It runs psets holding values without a stable text, with a NaN hash; sets hash."""
    df = ps.run_local(func_empty, [{"a": 1, "obj": object()}, {"a": 1, "obj": {1, 2}}])
    assert pd.isna(df["_pset_sha1"].iloc[0])
    assert isinstance(df["_pset_sha1"].iloc[1], str)


def test_numpy_values_hash_like_python(study):
    """It hashes numpy values in psets like the equal Python values."""
    df = ps.run_local(func_empty, [{"a": np.int64(1)}, {"a": 1}])
    assert df["_pset_sha1"].nunique() == 1


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sizes=st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=4))
def test_pset_seq_contiguous(tmp_path_factory, sizes):
    """It numbers psets 0..N-1 contiguously across runs, and runs 0..R-1."""
    calc_dir = str(tmp_path_factory.mktemp("calc") / "calc")
    for size in sizes:
        df = ps.run_local(func, ps.plist("a", list(range(size))), calc_dir=calc_dir)
    if sum(sizes) == 0:
        assert len(df) == 0
        return
    assert df["_pset_seq"].tolist() == list(range(sum(sizes)))
    runs = [i for i, size in enumerate(s for s in sizes if s) for _ in range(size)]
    assert df["_run_seq"].tolist() == runs


def test_database_readable_with_plain_pickle(study):
    """It writes a plain pickled DataFrame that needs no psweep to read."""
    ps.run_local(func, ps.plist("a", [1]))
    with open("calc/database.pk", "rb") as fh:
        assert isinstance(pickle.load(fh), pd.DataFrame)


def test_backup_of_calc_dir_without_psweep_state(study):
    """It backs up a calc_dir that psweep did not create (no calc/.psweep yet)."""
    os.makedirs("calc/inputs")
    Path("calc/inputs/mesh.txt").write_text("mesh")
    ps.run_local(func, ps.plist("a", [1]), backup=True)
    [bak] = [d for d in os.listdir() if d.startswith("calc.bak_")]
    assert bak.endswith("Z_run_id_none")
    assert Path(bak, "inputs/mesh.txt").read_text() == "mesh"


def test_calc_dir_with_trailing_slash_backs_up_beside_it(study):
    """Issue 20: calc_dir="calc/" is calc_dir="calc": backups go beside calc/, not into it
    (where each backup would copy the older ones)."""
    ps.run_local(func, ps.plist("a", [1]), calc_dir="calc/")
    ps.run_local(func, ps.plist("a", [2]), calc_dir="calc/", backup=True)
    ps.run_local(func, ps.plist("a", [3]), calc_dir="calc/", backup=True)
    baks = sorted(d for d in os.listdir() if d.startswith("calc.bak_"))
    assert len(baks) == 2
    assert not [d for d in os.listdir("calc") if ".bak_" in d]
    assert not [d for d in os.listdir(baks[1]) if ".bak_" in d]
    assert len(read_db(f"{baks[1]}/database.pk")) == 2
    assert read_db()["_calc_dir"].tolist() == ["calc"] * 3


def test_simulate_with_trailing_slash(study):
    """Issue 20: simulate=True with calc_dir="calc/" works in calc.simulate/, not in
    calc/.simulate/."""
    ps.run_local(func, ps.plist("a", [1]), calc_dir="calc/")
    df = ps.run_local(func, ps.plist("a", [2]), calc_dir="calc/", simulate=True)
    assert not os.path.exists("calc/.simulate")
    assert read_db("calc.simulate/database.pk").equals(df)
    assert df["_calc_dir"].iloc[-1] == "calc.simulate"


def test_backup_holds_the_database_of_database_dir(study):
    """Issue 20: with database_dir, the backup of calc/ holds the database (and the runs
    table) as they were before the run, where a study without database_dir has them."""
    os.makedirs("calc")
    Path("calc/input.txt").write_text("input")
    df0 = ps.run_local(func, ps.plist("a", [1]), database_dir="db")
    ps.run_local(func, ps.plist("a", [2]), database_dir="db", backup=True)
    [bak] = [d for d in os.listdir() if d.startswith("calc.bak_")]
    assert read_db(f"{bak}/database.pk").equals(df0)
    assert list(ps.df_runs(bak).index) == [df0["_run_id"].iloc[0]]
    assert Path(bak, "input.txt").read_text() == "input"
    assert len(read_db("db/database.pk")) == 2


def test_database_dir_whose_database_is_a_folder(study):
    """With database_dir, a folder where the database file would be is refused before
    anything runs, as it is in calc_dir."""
    os.makedirs("db/database.pk")
    with pytest.raises(ps.PsweepParamsError, match="is a folder, not a database file"):
        ps.run_local(func, ps.plist("a", [1]), database_dir="db")
    assert not os.path.exists("calc")


def _mutating_func(pset):
    pset["x"].append(99)
    pset["d"]["k"] = "changed"
    return {"n": len(pset["x"])}


@pytest.mark.parametrize("poolsize", [None, 2])
def test_func_mutating_its_pset_changes_no_row(study, poolsize):
    """func gets its own copy of nested values, serially as in a pool: the row keeps the
    pset as it ran, matching its hash; the caller's params are untouched (issue 20)."""
    params = [{"x": [1, 2], "d": {"k": "v"}, "t": (1, [2])}, {"x": [], "d": {}, "t": ()}]
    before = [{"x": [1, 2], "d": {"k": "v"}, "t": (1, [2])}, {"x": [], "d": {}, "t": ()}]
    df = ps.run_local(_mutating_func, params, poolsize=poolsize)
    assert params == before
    assert df["x"].tolist() == [[1, 2], []]
    assert df["d"].tolist() == [{"k": "v"}, {}]
    assert df["n"].tolist() == [3, 1]
    assert df["_pset_sha1"].tolist() == [ps.pset_hash(p) for p in before]
    assert ps.df_read("calc/database.pk")["x"].tolist() == [[1, 2], []]


def test_a_new_int_parameter_stays_int(study):
    """A run that adds an int parameter the database's rows lack keeps it an int (pandas
    would fill the old rows with NaN and store 20.0), so the row hashes as the pset that
    ran and skip_dups finds it (found by the study model, issue 20)."""
    ps.run_local(func, ps.plist("a", [0, 1]))
    df = ps.run_local(func, [{"a": 2, "b": 20}], skip_dups=True)
    back = read_db()
    for frame in (df, back):
        assert frame["b"].iloc[-1] == 20 and isinstance(frame["b"].iloc[-1], int)
    assert back["_pset_sha1"].tolist() == [ps.pset_hash(p) for p in ps.df_extract_params(back)]
    again = ps.run_local(func, [{"a": 2, "b": 20}], skip_dups=True)
    assert len(again) == 3


def func_fail_with_b(pset):
    if "b" in pset:
        raise ValueError(f"b={pset['b']}")
    return {"result": 1}


def test_failure_warning_names_exactly_the_failed_pset(study, caplog):
    """The warning at the end of a run names the first failed pset with its own keys only:
    not the keys of other psets (as None or NaN in its row), nor of earlier runs, nor the
    columns func returned for other psets."""
    ps.run_local(func_fail_with_b, [{"a": 1, "n": "x"}, {"a": 2, "c": "y"}])
    params = [{"a": 3, "z": 1.5}, {"b": 2, "w": "q"}, {"b": 4, "a": 7}]
    with caplog.at_level("WARNING", logger="psweep"):
        ps.run_local(func_fail_with_b, params, on_error="record", progress=False)
    (text,) = [r.getMessage() for r in caplog.records if "psets failed" in r.getMessage()]
    assert "2 of 3 psets failed" in text and "ValueError: b=2" in text
    first = read_db().query("b == 2")["_pset_id"].item()
    assert f"(_pset_id {first}, {{'b': 2, 'w': 'q'}})" in text
    for other in ("'a'", "'n'", "'c'", "'z'", "'result'", "None", "nan", "NA>"):
        assert other not in text
