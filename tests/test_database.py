"""Tests of psweep.store.database: reading, writing, printing and filtering the database."""

import json
import os
import pickle
import random
import uuid

import numpy as np
import pandas as pd
import pytest

import psweep as ps


class Unpicklable:
    """An object whose pickling fails, to break a write half-way."""

    def __reduce__(self):
        raise RuntimeError("cannot pickle Unpicklable")


@pytest.fixture
def df():
    """A database-like frame with every kind of column a study produces."""
    ids = [str(uuid.UUID(int=n)) for n in (1, 2, 3)]
    times = ["2024-01-01T00:00:00.123456789", "2024-06-01T12:00:00", "2025-01-01"]
    return pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [1.5, np.nan, 3.25],
            "s": ["x", "y", "z"],
            "o": [[1, 2], {"k": 1}, (3, 4)],
            "_time_utc": pd.to_datetime(times, format="ISO8601").astype("datetime64[ns]"),
            "_pset_id": ids,
        },
        index=ids,
    )


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_pickle_round_trip(df, tmp_path):
    """It reads back an equal frame, dtypes and index included, creating parent dirs."""
    fn = tmp_path / "a" / "b" / "database.pk"
    ps.df_write(df, fn)
    back = ps.df_read(fn)
    assert back.equals(df)
    assert back.dtypes.equals(df.dtypes)
    assert list(back.index) == list(df.index)
    assert back["_time_utc"].dtype == "datetime64[ns]"


def test_pickle_stores_the_ids_once(tmp_path):
    """A database's index is its _pset_id column: the pickle holds those ids once, and
    plain pandas reads back the same frame (values, dtypes, index and its name)."""
    func = lambda pset: {"r": pset["a"]}  # noqa: E731
    df = ps.run_local(func, ps.plist("a", range(2000)), calc_dir=str(tmp_path / "calc"))
    df.index.name = "who"
    ps.df_write(df, tmp_path / "db.pk")
    with_both = len(pickle.dumps(df, protocol=pickle.HIGHEST_PROTOCOL))
    assert os.path.getsize(tmp_path / "db.pk") < with_both - 2000 * 36
    back = pd.read_pickle(tmp_path / "db.pk")
    pd.testing.assert_frame_equal(back, df)
    assert back.index.name == "who"
    assert (back.index == back["_pset_id"]).all()


def test_write_accepts_newer_argument_order(df):
    """It takes df_write(fn, df), the argument order of newer psweep."""
    ps.df_write("database.pk", df)
    assert ps.df_read("database.pk").equals(df)


def test_json_round_trip(df):
    """It keeps lists and dicts as values, refuses tuples (they would come back as
    lists), and restores times and index."""
    with pytest.raises(ps.PsweepFormatError, match=r"column 'o'.*tuple"):
        ps.df_write(df, "database.json", fmt="json")
    assert not os.path.exists("database.json")
    df["o"] = [[1, 2], {"k": 1}, [3, 4]]
    ps.df_write(df, "database.json", fmt="json")
    back = ps.df_read("database.json", fmt="json")
    assert list(back.index) == list(df.index)
    assert back[["i", "f", "s", "_pset_id"]].equals(df[["i", "f", "s", "_pset_id"]])
    assert list(back["o"]) == [[1, 2], {"k": 1}, [3, 4]]
    assert [type(v) for v in back["o"]] == [list, dict, list]
    assert back["_time_utc"].dtype == "datetime64[ns]"
    assert (back["_time_utc"].to_numpy() == df["_time_utc"].to_numpy()).all()


def test_json_passes_pandas_kwds(df):
    """It passes orient="split" on to pandas for both writing and reading."""
    ps.df_write(df, "database.json", fmt="json", orient="split")
    with open("database.json") as fh:
        raw = json.load(fh)
    assert set(raw) == {"columns", "index", "data"}
    assert raw["index"] == list(df.index)
    back = ps.df_read("database.json", fmt="json", orient="split")
    assert list(back.index) == list(df.index)
    assert list(back.columns) == list(df.columns)
    assert back[["i", "f", "s"]].equals(df[["i", "f", "s"]])


@pytest.mark.parametrize("func", ["write", "read"])
def test_unknown_format(df, func):
    """It rejects an unknown fmt with a PsweepDatabaseError listing the valid ones."""
    with pytest.raises(ps.PsweepDatabaseError) as info:
        if func == "write":
            ps.df_write(df, "database.csv", fmt="csv")
        else:
            ps.df_read("database.csv", fmt="csv")
    msg = str(info.value)
    assert "csv" in msg
    assert "pickle" in msg
    assert "json" in msg
    assert not os.path.exists("database.csv")


@pytest.mark.parametrize("args", [([1, 2], "database.pk"), ("database.pk", [1, 2])])
def test_write_needs_a_dataframe(args):
    """It raises TypeError for something that is not a DataFrame, and writes nothing."""
    with pytest.raises(TypeError, match="DataFrame"):
        ps.df_write(*args)
    assert os.listdir(".") == []


def test_write_leaves_no_temp_file(df, tmp_path):
    """It leaves only the database in its folder after writing, with the usual permissions."""
    old_umask = os.umask(0o022)
    try:
        ps.df_write(df, tmp_path / "calc" / "database.pk")
    finally:
        os.umask(old_umask)
    assert os.listdir(tmp_path / "calc") == ["database.pk"]
    assert os.stat(tmp_path / "calc" / "database.pk").st_mode & 0o777 == 0o644


def test_failed_write_keeps_old_file(df, tmp_path):
    """It leaves the old file byte-for-byte intact and no temp file when writing fails midway."""
    fn = tmp_path / "calc" / "database.pk"
    ps.df_write(df, fn)
    old = fn.read_bytes()
    bad = pd.DataFrame({"a": [1, 2], "obj": [Unpicklable(), Unpicklable()]})
    with pytest.raises(RuntimeError, match="cannot pickle Unpicklable"):
        ps.df_write(bad, fn)
    assert fn.read_bytes() == old
    assert os.listdir(fn.parent) == ["database.pk"]
    assert list(fn.parent.glob(".database.pk.*.tmp")) == []


def _corrupt_bytes(kind, df):
    if kind == "random bytes":
        return random.Random(0).randbytes(500)
    if kind == "truncated pickle":
        data = pickle.dumps(df, protocol=pickle.HIGHEST_PROTOCOL)
        return data[: len(data) // 2]
    if kind == "empty file":
        return b""
    return pickle.dumps([1, 2, 3])


@pytest.mark.parametrize("kind", ["random bytes", "truncated pickle", "empty file", "pickled list"])
def test_read_corrupt_file(df, tmp_path, kind):
    """It leaves a corrupt database file untouched and names it in the error."""
    fn = tmp_path / "calc" / "database.pk"
    fn.parent.mkdir()
    data = _corrupt_bytes(kind, df)
    fn.write_bytes(data)
    with pytest.raises(ps.PsweepDatabaseError) as info:
        ps.df_read(str(fn))
    assert isinstance(info.value, ValueError)
    assert str(fn) in str(info.value)
    assert fn.read_bytes() == data


def test_read_corrupt_json_file(tmp_path):
    """It raises PsweepDatabaseError naming a JSON database that is not text."""
    fn = tmp_path / "database.json"
    fn.write_bytes(b"\xbc\xff\x00garbage")
    with pytest.raises(ps.PsweepDatabaseError, match=r"database\.json"):
        ps.df_read(fn, fmt="json")


@pytest.mark.parametrize("fmt", ["pickle", "json"])
def test_read_missing_file(fmt):
    """It raises FileNotFoundError for a database that does not exist."""
    with pytest.raises(FileNotFoundError):
        ps.df_read("nope/database.pk", fmt=fmt)


@pytest.fixture
def small():
    return pd.DataFrame({"a": [1, 2], "b": [3, 4], "_x": ["p", "q"]}, index=["row0", "row1"])


def _header(capsys):
    out = capsys.readouterr().out
    return out.splitlines()[0].split(), out


@pytest.mark.parametrize(
    ("kwds", "header"),
    [
        ({}, ["a", "b"]),
        ({"special_cols": True}, ["a", "b", "_x"]),
        ({"cols": ["a"]}, ["a"]),
        ({"cols": ["b", "a"]}, ["b", "a"]),
        ({"cols": ["a"], "special_cols": True}, ["a", "_x"]),
        ({"skip_cols": ["b"]}, ["a"]),
        ({"skip_cols": ["b"], "special_cols": True}, ["a", "_x"]),
    ],
)
def test_print_columns(small, capsys, kwds, header):
    """It hides columns starting with "_" unless asked, and shows the chosen columns."""
    ps.df_print(small, **kwds)
    got, out = _header(capsys)
    assert got == header
    assert "row0" not in out


@pytest.mark.parametrize("call", ["keyword", "positional 0.7.0"])
def test_print_index(small, capsys, call):
    """It shows the index with index=True, also as psweep 0.7.0's df_print(df, True)."""
    if call == "keyword":
        ps.df_print(small, index=True)
    else:
        ps.df_print(small, True)
    got, out = _header(capsys)
    assert got == ["a", "b"]
    assert "row0" in out
    assert "row1" in out


def test_print_rejects_bad_column_choices(small, capsys):
    """It refuses cols together with skip_cols, and names an unknown column."""
    with pytest.raises(ValueError, match="skip_cols"):
        ps.df_print(small, cols=["a"], skip_cols=["b"])
    with pytest.raises(KeyError, match="zz"):
        ps.df_print(small, cols=["a", "zz"])
    assert capsys.readouterr().out == ""


@pytest.fixture
def grid():
    return pd.DataFrame(
        {"a": range(6), "b": list("xyxyxy"), "c": np.linspace(0, 1, 6)},
        index=[f"r{n}" for n in range(6)],
    )


CONTAINERS = {
    "list of Series": list,
    "map": lambda cs: map(lambda c: c, cs),
    "generator": lambda cs: (c for c in cs),
    "numpy arrays": lambda cs: [c.to_numpy() for c in cs],
    "plain lists": lambda cs: [c.tolist() for c in cs],
}


@pytest.mark.parametrize("wrap", CONTAINERS.values(), ids=CONTAINERS.keys())
def test_filter_conds(grid, wrap):
    """It keeps the rows where all conditions hold, like df[c1 & c2 & c3]."""
    c1, c2, c3 = grid.a > 0, grid.b == "x", grid.c < 0.9
    expected = grid[c1 & c2 & c3]
    assert list(expected.index) == ["r2", "r4"]
    assert ps.df_filter_conds(grid, wrap([c1, c2, c3])).equals(expected)


def test_filter_conds_single_and_none(grid):
    """It works with one condition, and returns the frame unchanged for none."""
    cond = grid.b == "y"
    assert ps.df_filter_conds(grid, [cond]).equals(grid[cond])
    assert ps.df_filter_conds(grid, []).equals(grid)
    assert ps.df_filter_conds(grid, iter([])).equals(grid)


def test_filter_conds_wrong_length(grid):
    """It names the position of a condition that does not have one value per row."""
    with pytest.raises(ValueError, match="position 1"):
        ps.df_filter_conds(grid, [grid.a > 0, [True, False]])
