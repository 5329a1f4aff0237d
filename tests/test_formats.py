"""Database formats (issue 10, case 21): a Parquet database with the whole API, chosen by
file name or fmt, next to the default pickle; what Parquet cannot hold is a clear error."""

from __future__ import annotations

import datetime
import decimal
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import uuid
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import psweep as ps


def func(pset):
    if pset["a"] == 3:
        raise ValueError("three")
    return {"r": pset["a"] * 0.1, "label": f"x{pset['a']}"}


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("poolsize", [None, 2])
def test_parquet_database_end_to_end(study, poolsize):
    """Runs append, resume, record failures and recover with database.parquet."""
    kw = dict(database_basename="database.parquet", on_error="record", poolsize=poolsize)
    ps.run_local(func, ps.plist("a", [1, 2, 3]), **kw)
    df = ps.run_local(func, ps.plist("a", [1, 2, 3, 4]), skip_dups=True, **kw)
    assert df["a"].tolist() == [1, 2, 3, 3, 4]
    assert df["_pset_status"].tolist() == ["ok", "ok", "failed", "failed", "ok"]
    back = ps.df_read("calc/database.parquet")
    assert back.index.tolist() == df.index.tolist()
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert back["_time_utc"].dtype.kind == "M" and back["_pset_seq"].dtype.kind == "i"
    assert back.loc[back["a"] == 1, "r"].iloc[0] == 0.1
    with open("calc/database.parquet", "rb") as fh:
        assert fh.read(4) == b"PAR1"
    # the command line tools read it by its name
    out = subprocess.run(
        [sys.executable, "-c", "from psweep.cli import db2table; db2table()",
         "calc/database.parquet", "a", "label"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "x4" in out


def test_format_by_name_or_fmt(study):
    """*.parquet and *.json pick their format, other names pickle; fmt overrides the name."""
    df = pd.DataFrame({"a": [1, 2], "s": ["007", "01234"]})
    cases = [("x.parquet", None, b"PAR1"), ("x.pk", None, b"\x80"),
             ("x.json", None, b'{"format": "psweep-database"'), ("y.bin", "parquet", b"PAR1"),
             ("y.dat", "json", b'{"format": "psweep-database"')]  # fmt: skip
    for name, fmt, magic in cases:
        ps.df_write(df, name, fmt=fmt)
        with open(name, "rb") as fh:
            assert fh.read(len(magic)) == magic, name
        back = ps.df_read(name, fmt=fmt)
        assert back["a"].tolist() == [1, 2]
        assert back["s"].tolist() == ["007", "01234"]


def test_parquet_refuses_what_it_cannot_hold(study):
    """A column of mixed types or Python objects: a clear error naming it; nothing written."""
    df = pd.DataFrame({"ok": [1, 2], "mixed": [1, "two"]})
    with pytest.raises(ps.PsweepDatabaseError, match=r"column 'mixed'.*pickle database"):
        ps.df_write(df, "db.parquet")
    assert not (study / "db.parquet").exists()


# --- the lossless JSON database ------------------------------------------------------------


def json_round_trip(df, name="db.json"):
    ps.df_write(df, name)
    back = ps.df_read(name)
    pd.testing.assert_frame_equal(back, df, check_exact=True)
    assert list(back.columns) == list(df.columns)
    assert back.dtypes.tolist() == df.dtypes.tolist()
    assert back.index.equals(df.index) and back.index.dtype == df.index.dtype
    assert back.index.name == df.index.name
    return back


def float_bits(values):
    """The bits of floats, NaN as one value (JSON has one NaN)."""
    arr = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(arr), np.nan, arr).view(np.int64).tolist()


IDS = [str(uuid.UUID(int=n)) for n in (1, 2, 3)]


def test_json_keeps_what_pandas_json_loses(study):
    """inf, floats to the last bit, subnormals, text like '007' and date-like names stay."""
    df = pd.DataFrame(
        {
            "f": [math.inf, 0.30000000000000004, 5e-324],
            "g": [-math.inf, math.nan, -0.0],
            "s": ["007", "01234", "1e5"],
            "modified": ["2024-01-01", "2024-01-02T00:00:00", "x"],
            "created_at": ["1", "2", "3"],
            "date": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "timestamp": [1700000000000, 1700000000001, 1700000000002],
            "end_time": ["2024-01-01", None, "x"],
            "_pset_id": IDS,
        },
        index=IDS,
    )
    back = json_round_trip(df)
    assert math.isinf(back["f"].iloc[0]) and back["f"].iloc[0] > 0
    assert math.isinf(back["g"].iloc[0]) and back["g"].iloc[0] < 0
    assert math.isnan(back["g"].iloc[1])
    assert repr(float(back["f"].iloc[1])) == "0.30000000000000004"
    assert back["f"].iloc[2] == 5e-324 and back["f"].iloc[2] > 0
    assert float_bits(back["g"]) == float_bits(df["g"])  # -0.0 keeps its sign
    for col in ("s", "modified", "created_at", "date"):
        assert back[col].tolist() == df[col].tolist()
        assert all(type(v) is str for v in back[col])
    assert back["timestamp"].dtype == np.int64
    assert back["end_time"].iloc[1] is not None and pd.isna(back["end_time"].iloc[1])
    assert list(back.index) == IDS


DTYPE_COLUMNS = {
    "int8": np.array([-128, 0, 127], dtype="int8"),
    "int16": np.array([-(2**15), 0, 2**15 - 1], dtype="int16"),
    "int32": np.array([-(2**31), 0, 2**31 - 1], dtype="int32"),
    "int64": np.array([-(2**63), 0, 2**63 - 1], dtype="int64"),
    "uint8": np.array([0, 1, 255], dtype="uint8"),
    "uint16": np.array([0, 1, 2**16 - 1], dtype="uint16"),
    "uint32": np.array([0, 1, 2**32 - 1], dtype="uint32"),
    "uint64": np.array([0, 1, 2**64 - 1], dtype="uint64"),
    "float32": np.array([0.1, 1e-45, np.inf], dtype="float32"),
    "float64": np.array([0.1, np.nan, 1.7976931348623157e308]),
    "bool": np.array([True, False, True]),
    "object": pd.Series([1, "two", None], dtype=object).to_numpy(),
    "string": pd.array(["a", None, "ü"], dtype="string"),
    "string[python]": pd.array(["a", None, "c"], dtype=pd.StringDtype("python")),
    "str": pd.array(["a", None, "c"], dtype="str"),
    "datetime64[ns]": np.array(
        ["2024-01-01T00:00:00.123456789", "NaT", "1677-09-22T00:12:43.145224193"],
        dtype="datetime64[ns]",
    ),
    "datetime64[us]": np.array(["2024-01-01T00:00:00.123456", "NaT", "9999-12-31"], "M8[us]"),
    "datetime64[s]": np.array(["-20000-01-01", "NaT", "+20000-12-31T23:59:59"], "M8[s]"),
    "datetime64[ns, UTC]": pd.DatetimeIndex(
        np.array(
            ["2024-01-01T00:00:00.000000001", "NaT", "2262-04-11T23:47:16.854775807"], "M8[ns]"
        )
    ).tz_localize("UTC"),
    "datetime64[ns, Europe/Berlin]": pd.DatetimeIndex(
        np.array(["2024-03-31T01:59:59.999999999", "2024-10-27T01:00:00.5", "NaT"], "M8[ns]")
    ).tz_localize("Europe/Berlin", ambiguous=[True, True, False]),
    "timedelta64[ns]": pd.to_timedelta([1, None, -(2**62)], unit="ns"),
    "Int64": pd.array([1, None, -(2**63)], dtype="Int64"),
    "UInt8": pd.array([1, None, 255], dtype="UInt8"),
    "Float64": pd.arrays.FloatingArray(
        np.array([1.5, np.nan, 0.0]), np.array([False, False, True])
    ),  # NaN and <NA> both
    "boolean": pd.array([True, None, False], dtype="boolean"),
}


@pytest.mark.parametrize("dtype", DTYPE_COLUMNS)
def test_json_keeps_each_dtype(study, dtype):
    """Each supported dtype comes back with its values, missing values included."""
    df = pd.DataFrame({"x": DTYPE_COLUMNS[dtype], "_pset_id": IDS}, index=IDS)
    back = json_round_trip(df)
    assert str(back["x"].dtype) == str(df["x"].dtype)
    assert back["x"].isna().tolist() == df["x"].isna().tolist()
    if dtype == "Float64":
        assert back["x"].array._mask.tolist() == [False, False, True]


def test_json_keeps_all_dtypes_together_and_the_index(study):
    """All dtypes in one frame, in their order; named and unnamed indexes of several dtypes."""
    df = pd.DataFrame(DTYPE_COLUMNS, index=pd.Index(IDS, name="id"))
    json_round_trip(df)
    for index in (
        pd.RangeIndex(10, 16, 2, name="r"),
        pd.Index([3, 1, 2], dtype="int64"),
        pd.Index([0.5, np.inf, np.nan]),
        pd.Index(["a", "b", "a"], dtype=object),
        pd.Index(["a", "b", "a"], dtype="string"),
        pd.DatetimeIndex(np.array(["2024-01-01", "2024-01-02", "NaT"], "M8[ns]"), name="t"),
    ):
        json_round_trip(pd.DataFrame({"a": [1, 2, 3]}, index=index))
    pos = pd.DataFrame({"a": [1, 2, 3]}).rename_axis(index="row", columns="col")
    back = json_round_trip(pos)
    assert type(back.index) is pd.RangeIndex and back.columns.name == "col"
    obj_cols = pd.DataFrame({"a": [1]})
    obj_cols.columns = pd.Index(["a"], dtype=object)
    assert json_round_trip(obj_cols).columns.dtype == object


@pytest.mark.parametrize(
    "df",
    [pd.DataFrame(), pd.DataFrame(index=IDS), pd.DataFrame({"a": pd.Series([], dtype="int8")})],
    ids=["empty", "no columns", "no rows"],
)
def test_json_empty_frames(study, df):
    """Frames without rows or columns come back as they were."""
    json_round_trip(df)


def test_json_object_columns(study):
    """None and NaN stay apart; ints with None stay ints in an object column; nested data stays."""
    nested = {"k": [1, 2.5, None, math.nan, math.inf, "x", True], "d": {"e": [], "f": {}}}
    df = pd.DataFrame(
        {
            "o": pd.Series([None, math.nan, nested], dtype=object, index=IDS),
            "b": pd.Series([1, None, 3], dtype=object, index=IDS),
            "l": pd.Series([[1, 2], {"k": 1}, []], dtype=object, index=IDS),
            "n": pd.Series([np.int64(5), np.float32(0.5), np.bool_(True)], dtype=object, index=IDS),
            "t": pd.Series([True, 0, 1.0], dtype=object, index=IDS),
            "big": pd.Series([2**100, -(2**70), 0], dtype=object, index=IDS),
        },
        index=IDS,
    )
    ps.df_write(df, "db.json")
    back = ps.df_read("db.json")
    assert back.dtypes.tolist() == [np.dtype(object)] * 6
    o = back["o"].tolist()
    assert o[0] is None and type(o[1]) is float and math.isnan(o[1])
    assert repr(o[2]) == repr(nested)
    assert [type(v) for v in back["b"]] == [int, type(None), int]
    assert back["b"].tolist() == [1, None, 3]
    assert [type(v) for v in back["l"]] == [list, dict, list]
    assert back["n"].tolist() == [5, 0.5, True]
    assert [type(v) for v in back["n"]] == [int, float, bool]  # numpy scalars: Python values
    assert [type(v) for v in back["t"]] == [bool, int, float]
    assert back["big"].tolist() == [2**100, -(2**70), 0]
    df["n"] = pd.Series([5, 0.5, True], dtype=object, index=IDS)
    # assert_frame_equal compares dicts with ==, and nan != nan inside them: repr above
    pd.testing.assert_frame_equal(back.drop(columns="o"), df.drop(columns="o"), check_exact=True)


def test_json_text_of_any_kind(study):
    """Any text, lone surrogates and NUL included, comes back; the file is UTF-8."""
    texts = ["ü€😀", 'a\x00b\n\t"\\', "\ud800 lone"]  # pyarrow cannot hold the last
    python_str = pd.StringDtype("python", na_value=np.nan)
    df = pd.DataFrame(
        {"s": pd.Series(texts, dtype=python_str), "o": pd.Series(texts, dtype=object)}
    )
    back = json_round_trip(df)
    assert back["s"].tolist() == texts
    (study / "db.json").read_bytes().decode("utf-8")
    json_round_trip(df.iloc[:2], "utf8.json")
    assert "😀".encode() in (study / "utf8.json").read_bytes()  # readable, not \\u escapes


def test_json_psweep_database_round_trip_and_resume(study):
    """A database.json made by run_local reads back exactly, and a second run extends it."""
    calls = []

    def work(pset):
        calls.append(pset["a"])
        if pset["a"] == 3:
            raise ValueError("three")
        return {"r": pset["a"] * 0.1, "text": f"{pset['a']:03d}", "l": [pset["a"], None]}

    params = [*ps.plist("a", [1, 2, 3]), {"a": 4, "b": 7}]
    kw = dict(calc_dir="calc", database_basename="database.json", on_error="record")
    df = ps.run_local(work, params, **kw)
    back = ps.df_read("calc/database.json")
    pd.testing.assert_frame_equal(back, df, check_exact=True)
    assert back["text"].tolist()[:2] == ["001", "002"] and back["text"].iloc[3] == "004"
    assert pd.isna(back["text"].iloc[2]) and back["_pset_status"].iloc[2] == "failed"
    assert back["_time_utc"].dtype == "datetime64[ns]"
    assert back["b"].tolist() == [None, None, None, 7] and back["b"].dtype == object
    assert list(back.index) == back["_pset_id"].tolist()
    assert back.loc[back["a"] == 1, "r"].iloc[0] == 0.1
    calls.clear()
    df2 = ps.run_local(work, [*params, {"a": 5}], skip_dups=True, **kw)
    assert calls == [3, 5]  # the done psets were not run again, the failed one was
    assert df2["a"].tolist() == [1, 2, 3, 4, 3, 5]
    back2 = ps.df_read("calc/database.json")
    pd.testing.assert_frame_equal(back2, df2, check_exact=True)
    pd.testing.assert_frame_equal(back2.iloc[:4], back, check_exact=True)
    assert back2["text"].iloc[-1] == "005" and type(back2["text"].iloc[-1]) is str


def test_json_reads_legacy_records(study):
    """A list of records (psweep 0.7.0, pandas) is read without guessing dates or numbers."""
    times = ["2024-01-01T00:00:00.123456789", "2024-06-01T12:00:00", "2025-01-01"]
    df = pd.DataFrame(
        {
            "a": [1, 2, 3],
            "s": ["007", "01234", "x"],
            "modified": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "created_at": ["1", "2", "3"],
            "r": [0.1, math.nan, 2.5],
            "l": [[1, 2], {"k": 1}, None],
            "_time_utc": pd.to_datetime(times, format="ISO8601").astype("datetime64[ns]"),
            "_pset_id": IDS,
        },
        index=IDS,
    )
    text = df.to_json(orient="records", date_format="iso", date_unit="ns")
    (study / "old.json").write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecated pandas options are used
        back = ps.df_read("old.json")
    assert list(back.columns) == list(df.columns)
    assert back["_time_utc"].dtype == "datetime64[ns]"
    assert (back["_time_utc"].to_numpy() == df["_time_utc"].to_numpy()).all()
    for col in ("s", "modified", "created_at"):
        assert back[col].tolist() == df[col].tolist()
        assert all(type(v) is str for v in back[col])
    assert back["a"].dtype == np.int64 and back["r"].iloc[0] == 0.1
    assert back["l"].iloc[0] == [1, 2] and back["l"].iloc[1] == {"k": 1}
    assert list(back.index) == IDS
    # also the 0.7.0 layout from df_to_json, and the one with column names that look like data
    (study / "old2.json").write_text(ps.df_to_json(df.rename(columns={"a": "1"})))
    back2 = ps.df_read("old2.json")
    assert list(back2.columns) == ["1", *df.columns[1:]]
    assert back2["s"].tolist() == ["007", "01234", "x"]


def test_json_written_with_pandas_options(study):
    """With pandas' options, df_write and df_read leave JSON to pandas, as in psweep 0.7.0."""
    df = pd.DataFrame({"a": [1, 2], "_pset_id": IDS[:2]}, index=IDS[:2])
    ps.df_write(df, "db.json", orient="records")
    assert (study / "db.json").read_text().startswith("[")
    assert ps.df_read("db.json", orient="records")["a"].tolist() == [1, 2]
    ps.df_write(df, "db.json")
    with pytest.raises(ps.PsweepDatabaseError, match=r"db\.json.*without the pandas options"):
        ps.df_read("db.json", orient="split")
    out = subprocess.run(
        [sys.executable, "-c", "from psweep.cli import db2json; db2json()", "db.json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(out) == json.loads(ps.df_to_json(df))  # psweep-db2json: 0.7.0 output


class Thing:
    pass


UNSTORABLE = {
    "tuple": ((1, 2), "tuple"),
    "set": ({1, 2}, "set"),
    "frozenset": (frozenset([1]), "frozenset"),
    "datetime": (datetime.datetime(2024, 1, 1), "datetime"),
    "date": (datetime.date(2024, 1, 1), "date"),
    "Timestamp": (pd.Timestamp("2024-01-01"), "Timestamp"),
    "Decimal": (decimal.Decimal("0.1"), "Decimal"),
    "bytes": (b"ab", "bytes"),
    "dict with int keys": ({1: "a"}, "dict with a key of type int"),
    "object": (Thing(), "Thing"),
    "ndarray": (np.arange(3), "ndarray"),
    "complex": (1j, "complex"),
    "pd.NA": (pd.NA, "NAType"),
    "nested tuple": ([1, {"k": (2, 3)}], "list with a value of type tuple"),
    "str subclass": (type("Text", (str,), {})("x"), "Text"),
}


@pytest.mark.parametrize("case", UNSTORABLE, ids=UNSTORABLE)
def test_json_refuses_what_it_cannot_keep(study, case):
    """A value JSON cannot hold is an error naming column, row and type; the file stays."""
    value, what = UNSTORABLE[case]
    good = pd.DataFrame({"a": [1, 2], "o": pd.Series(["x", "y"], dtype=object)}, index=IDS[:2])
    ps.df_write(good, "calc/db.json")
    old = (study / "calc/db.json").read_bytes()
    bad = good.copy()
    bad["o"] = pd.Series(["fine", value], dtype=object, index=IDS[:2])
    with pytest.raises(ps.PsweepDatabaseError) as info:
        ps.df_write(bad, "calc/db.json")
    msg = str(info.value)
    assert "column 'o'" in msg and repr(IDS[1]) in msg and what in msg, msg
    assert "database.pk" in msg and "Parquet" in msg and "calc/db.json" in msg
    assert (study / "calc/db.json").read_bytes() == old
    assert os.listdir(study / "calc") == ["db.json"]


@pytest.mark.parametrize(
    ("df", "what"),
    [
        (pd.DataFrame({"c": pd.Categorical(["a", "b"])}), "column 'c' has dtype category"),
        (pd.DataFrame({"p": pd.period_range("2024", periods=2)}), "column 'p' has dtype period"),
        (pd.DataFrame({"z": [1j, 2j]}), "column 'z' has dtype complex128"),
        (pd.DataFrame({1: [1, 2]}), "column 1 has a name of type int"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "more than one column 'a'"),
        (pd.DataFrame({"a": [1]}, index=pd.MultiIndex.from_tuples([(1, 2)])), "MultiIndex"),
        (pd.DataFrame({"a": [1]}, index=pd.Index([1], name=("x", 1))), "the index has a name"),
        (pd.DataFrame({"a": [1]}, index=pd.Index([b"x"], dtype=object)), "the index at position 0"),
    ],
    ids=[
        "category",
        "period",
        "complex",
        "int name",
        "same name",
        "MultiIndex",
        "index name",
        "bytes label",
    ],
)
def test_json_refuses_dtypes_and_names(study, df, what):
    """Dtypes, names and labels it cannot keep are errors too, before the file is touched."""
    (study / "db.json").write_bytes(b"old")
    with pytest.raises(ps.PsweepDatabaseError, match=re.escape(what)):
        ps.df_write(df, "db.json")
    assert (study / "db.json").read_bytes() == b"old"


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2]}',
        '"text"',
        "3",
        "",
        '{"format": "psweep-database", "version": 99}',
        '{"format": "psweep-database", "version": 1, "columns": [["a", "int64"]], "index": '
        '{"range": [0, 1, 1]}, "columns_index": {"dtype": "str[python]"}, "records": [{"b": 1}]}',
        '{"format": "psweep-database", "version": 1, "columns": [["a", "int64"]], "index": '
        '{"range": [0, 1, 1]}, "columns_index": {"dtype": "str[python]"}, "records": [{"a": "1"}]}',
        '{"format": "psweep-database", "version": 1, "columns": [["a", "category"]], "index": '
        '{"range": [0, 1, 1]}, "columns_index": {"dtype": "str[python]"}, "records": [{"a": 1}]}',
    ],
    ids=[
        "other object",
        "string",
        "number",
        "empty",
        "newer version",
        "wrong column",
        "wrong type",
        "unknown dtype",
    ],
)
def test_json_read_refuses_other_documents(study, text):
    """JSON that is neither psweep's nor a list of records is an error naming the file."""
    (study / "db.json").write_text(text)
    with pytest.raises(ps.PsweepDatabaseError, match=r"'db\.json' as JSON"):
        ps.df_read("db.json")
    assert (study / "db.json").read_text() == text


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
            st.floats(width=32),
            st.integers(-(2**63), 2**63 - 1),
            st.text(),
            st.one_of(st.none(), st.integers(), st.floats(), st.text(), st.booleans()),
        ),
        max_size=20,
    ),
    names=st.lists(st.text(), min_size=5, max_size=5, unique=True),
)
def test_json_round_trip_property(rows, names):
    """Frames of floats (inf, nan, subnormals), ints, text and objects come back exactly."""
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 5
    index = pd.Index([f"id{n}" for n in range(len(rows))], dtype="str")
    df = pd.DataFrame(
        {
            names[0]: pd.Series(cols[0], dtype="float64", index=index),
            names[1]: pd.Series(cols[1], dtype="float32", index=index),
            names[2]: pd.Series(cols[2], dtype="int64", index=index),
            names[3]: pd.Series(cols[3], dtype="str", index=index),
            names[4]: pd.Series(cols[4], dtype=object, index=index),
        },
        index=index,
    )
    assert df[names[4]].dtype == object
    with tempfile.TemporaryDirectory() as tmp:
        back = json_round_trip(df, os.path.join(tmp, "db.json"))
    assert float_bits(back[names[0]]) == float_bits(df[names[0]])
    assert float_bits(back[names[1]]) == float_bits(df[names[1]])
    assert back[names[3]].tolist() == list(cols[3])
    got = back[names[4]].tolist()
    assert [type(v) for v in got] == [type(v) for v in cols[4]]
    assert [repr(v) for v in got] == [repr(v) for v in cols[4]]


# any text: control characters, quotes, backslashes, lone surrogates
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=8)
JSON_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)
NS = st.integers(-(2**63) + 1, 2**63 - 1)  # every datetime64[ns] but NaT


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
            st.floats(width=32),
            st.integers(-(2**63), 2**63 - 1),
            st.integers(0, 2**64 - 1),
            st.booleans(),
            st.none() | NS,
            st.none() | st.integers(-(2**46), 2**46),  # seconds: years far from 1 to 9999
            st.none() | st.text(),
            st.none() | ANY_TEXT,
            JSON_DATA,
        ),
        max_size=12,
    ),
    use_range_index=st.booleans(),
)
def test_json_round_trip_property_of_each_plain_dtype_and_rich_objects(rows, use_range_index):
    """Frames of every plain dtype (floats to the bit, ints of 64 bits, bools, times,
    text with nulls and with any characters) and of nested objects come back exactly,
    with the index of ids that a column holds too (as in a psweep database)."""
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 10
    ids = [f"id{n}" for n in range(len(rows))]
    index = pd.RangeIndex(len(rows)) if use_range_index else pd.Index(ids, dtype="str")
    df = pd.DataFrame(
        {
            "f64": pd.Series(cols[0], dtype="float64", index=index),
            "f32": pd.Series(cols[1], dtype="float32", index=index),
            "i64": pd.Series(cols[2], dtype="int64", index=index),
            "u64": pd.Series(cols[3], dtype="uint64", index=index),
            "b": pd.Series(cols[4], dtype="bool", index=index),
            "t_ns": pd.Series(
                np.array([-(2**63) if v is None else v for v in cols[5]], "int64").view("M8[ns]"),
                index=index,
            ),
            "t_s": pd.Series(
                np.array([-(2**63) if v is None else v for v in cols[6]], "int64").view("M8[s]"),
                index=index,
            ),
            "s": pd.Series(cols[7], dtype="str", index=index),
            "sp": pd.Series(cols[8], dtype=pd.StringDtype("python"), index=index),
            "o": pd.Series(cols[9], dtype=object, index=index),
            "_pset_id": pd.Series(ids, dtype="str", index=index),
        },
        index=index,
    )
    with tempfile.TemporaryDirectory() as tmp:
        ps.df_write(df, os.path.join(tmp, "db.json"))
        back = ps.df_read(os.path.join(tmp, "db.json"))
    # nested NaN is not equal to itself: the object column is compared by repr
    pd.testing.assert_frame_equal(back.drop(columns="o"), df.drop(columns="o"), check_exact=True)
    assert back.dtypes.tolist() == df.dtypes.tolist()
    assert back.index.equals(df.index) and type(back.index) is type(df.index)
    for col in ("f64", "f32"):
        assert float_bits(back[col]) == float_bits(df[col])
    assert back["i64"].tolist() == list(cols[2]) and back["u64"].tolist() == list(cols[3])
    assert back["sp"].isna().tolist() == [v is None for v in cols[8]]
    got = back["o"].tolist()
    assert [type(v) for v in got] == [type(v) for v in cols[9]]
    assert [repr(v) for v in got] == [repr(v) for v in cols[9]]


GOLDEN_V1 = os.path.join(os.path.dirname(__file__), "golden", "database_v1.json")


def test_json_reads_version_1_files(study):
    """A file in the layout of version 1 (one record a line), as psweep wrote JSON
    databases before version 2, reads back as the frame that was written."""
    ids = [f"1f0c9d34-0000-4000-8000-00000000000{n}" for n in (1, 2, 3)]
    nested = {"k": [1, 2.5, None, 2**100], "d": {}}
    df = pd.DataFrame(
        {
            "a": np.array([1, -(2**63), 2**63 - 1], dtype="int64"),
            "f": [0.30000000000000004, math.inf, math.nan],
            "g": [-0.0, 5e-324, 1.0],
            "b": [True, False, True],
            "s": pd.Series(["007", None, 'q"\\ü😀'], dtype="str"),
            "o": pd.Series([None, math.nan, nested], dtype=object),
            "_pset_id": pd.Series(ids, dtype="str"),
            "_time_utc": np.array(["2024-01-01T00:00:00.123456789", "NaT", "2025-06-01"], "M8[ns]"),
            "n": pd.array([1, None, 3], dtype="Int64"),
        },
    )
    df.index = pd.Index(ids, dtype="str")
    with open(GOLDEN_V1, "rb") as fh:
        assert fh.readline() == b'{"format": "psweep-database", "version": 1,\n'
    back = ps.df_read(GOLDEN_V1)
    pd.testing.assert_frame_equal(back.drop(columns="o"), df.drop(columns="o"), check_exact=True)
    assert float_bits(back["g"]) == float_bits(df["g"])
    assert back["o"].iloc[0] is None and math.isnan(back["o"].iloc[1])
    assert back["o"].iloc[2] == nested
    # written again, in the layout of now, it reads back the same
    json_round_trip(back.drop(columns="o"))


def test_json_writes_a_column_a_line(study):
    """The file holds the head, then each column's values on one line; the index that a
    text column holds too is not repeated; a file laid out otherwise (reformatted) reads."""
    ids = [str(uuid.UUID(int=n)) for n in range(5)]
    df = pd.DataFrame(
        {"a": range(5), "_pset_id": pd.Series(ids, dtype="str"), "r": np.linspace(0, 1, 5)}
    )
    df.index = pd.Index(ids, dtype="str")
    json_round_trip(df)
    lines = (study / "db.json").read_bytes().splitlines()
    start = lines.index(b' "data": [')
    assert lines[0] == b'{"format": "psweep-database", "version": 2,'
    assert lines[start + 1 :] == [b"[0, 1, 2, 3, 4],", b'["' + '", "'.join(ids).encode() + b'"],',
                                  b"[0.0, 0.25, 0.5, 0.75, 1.0]", b"]}"]  # fmt: skip
    assert (study / "db.json").read_bytes().count(ids[1].encode()) == 1
    doc = json.loads((study / "db.json").read_text())
    assert doc["index"] == {"name": None, "dtype": "str[pyarrow]", "column": "_pset_id"}
    (study / "db.json").write_text(json.dumps(doc, indent=2))
    back = ps.df_read("db.json")
    pd.testing.assert_frame_equal(back, df, check_exact=True)


# -- text that is not valid Unicode (issue 20) ---------------------------------------------
# a file name of latin-1 bytes, as os.listdir gives it on a UTF-8 system
LATIN1_NAME = b"caf\xe9.dat".decode("utf-8", "surrogateescape")


def _listdir_func(pset):
    if pset["f"] == "bad":
        raise ValueError(f"cannot read {LATIN1_NAME}")
    return {"n": len(pset["f"]), "seen": pset["f"]}


@pytest.mark.parametrize("poolsize", [None, 2])
def test_pickle_study_keeps_surrogate_escaped_text(study, poolsize):
    """A parameter, a result and an error text with non-UTF-8 bytes (surrogate escapes)
    are stored as they are in a pickle study; the next run and skip_dups work."""
    params = ps.plist("f", [LATIN1_NAME, "plain", "bad"])
    kw = dict(on_error="record", poolsize=poolsize)
    df = ps.run_local(_listdir_func, params, **kw)
    assert df["f"].tolist() == [LATIN1_NAME, "plain", "bad"]
    assert df["seen"].iloc[0] == LATIN1_NAME
    assert LATIN1_NAME in df["_exc"].iloc[2]
    assert not os.listdir("calc/.psweep/journal")  # merged, nothing left for recovery
    back = ps.df_read("calc/database.pk")
    assert back["f"].iloc[0] == LATIN1_NAME
    assert back["_pset_sha1"].tolist() == [ps.pset_hash(p) for p in params]
    assert ps.df_runs("calc")["last_error"].iloc[0].endswith(f"cannot read {LATIN1_NAME}")
    df = ps.run_local(_listdir_func, [*params, {"f": "new"}], skip_dups=True, **kw)
    assert df["f"].tolist() == [LATIN1_NAME, "plain", "bad", "bad", "new"]


def test_pickle_study_recovers_surrogate_escaped_text(study):
    """A run with such a parameter that dies before its merge is recovered by the next."""
    params = ps.plist("f", [LATIN1_NAME, "plain"])
    code = (
        "import os, time, psweep as ps\n"
        f"names = {params!r}\n"
        "def func(pset):\n"
        "    if pset['f'] == 'plain':\n"
        "        os._exit(3)\n"
        "    time.sleep(0.05)  # journaled before the next pset starts\n"
        "    return {'n': 1}\n"
        "ps.run_local(func, names)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    df = ps.recover("calc")
    assert df["f"].tolist() == [LATIN1_NAME]
    assert df["_pset_sha1"].iloc[0] == ps.pset_hash({"f": LATIN1_NAME})


def test_parquet_refuses_surrogate_escaped_text_before_func(study):
    """Parquet holds only UTF-8 text: such a pset is refused before func runs, by a
    PsweepFormatError naming the parameter and the value."""
    calls = []

    def work(pset):
        calls.append(pset)
        return {}

    with pytest.raises(ps.PsweepFormatError) as info:
        ps.run_local(work, ps.plist("f", ["ok", LATIN1_NAME]),
                     database_basename="database.parquet")  # fmt: skip
    assert calls == []
    msg = str(info.value)
    assert "'f'" in msg and repr(LATIN1_NAME) in msg and "UTF-8" in msg
    assert not isinstance(info.value, UnicodeEncodeError)
    assert not os.path.exists("calc/database.parquet")
    ps.run_local(work, ps.plist("f", ["ok"]), database_basename="database.parquet")
    assert len(calls) == 1


def test_json_study_keeps_surrogate_escaped_text(study):
    """JSON writes such text as \\uXXXX escapes and reads it back exactly, so a JSON
    study takes the pset (as a pickle study does)."""
    params = ps.plist("f", [LATIN1_NAME, "plain", "bad"])
    kw = dict(on_error="record", database_basename="database.json")
    ps.run_local(_listdir_func, params, **kw)
    back = ps.df_read("calc/database.json")
    assert back["f"].tolist() == [LATIN1_NAME, "plain", "bad"]
    assert LATIN1_NAME in back["_exc"].iloc[2]
    df = ps.run_local(_listdir_func, params, skip_dups=True, **kw)
    assert len(df) == 4  # only the failed one again


def test_parquet_study_escapes_surrogates_in_error_text(study):
    """An exception text with such a name is kept in Parquet with the bytes escaped
    (backslashreplace: '\\udce9'); the run saves its rows and leaves no journal."""
    ps.run_local(_listdir_func, ps.plist("f", ["plain", "bad"]), on_error="record",
                 database_basename="database.parquet")  # fmt: skip
    back = ps.df_read("calc/database.parquet")
    assert back["_pset_status"].tolist() == ["ok", "failed"]
    assert "cannot read caf\\udce9.dat" in back["_exc"].iloc[1]
    assert not os.listdir("calc/.psweep/journal")
    assert not [n for n in os.listdir("calc") if "unsaved" in n]


def test_parquet_keeps_ints_with_gaps(study):
    """Ints of psets that lack the key stay ints (not float64) in Parquet, so the rows
    read back hash as the psets that ran, and skip_dups on them runs nothing."""
    params = [{"a": 1}, {"a": 2, "b": 3}, {"a": 3, "b": 2**62 + 1}]
    kw = dict(database_basename="database.parquet")
    df = ps.run_local(lambda pset: {"n": 1.5}, params, **kw)
    back = ps.df_read("calc/database.parquet")
    assert back["b"].tolist() == [None, 3, 2**62 + 1]
    extracted = ps.df_extract_params(back)
    assert [ps.pset_hash(p) for p in extracted] == df["_pset_sha1"].tolist()
    calls = []
    ps.run_local(lambda pset: calls.append(pset) or {}, extracted, skip_dups=True, **kw)
    assert calls == []


def test_parquet_keeps_int_column_names(study):
    """An int parameter name comes back as the int (not "1"), so the next run adds its
    rows to the same column."""
    kw = dict(database_basename="database.parquet")
    ps.run_local(lambda pset: {}, [{1: "x", "a": 1}], **kw)
    assert 1 in ps.df_read("calc/database.parquet").columns
    df = ps.run_local(lambda pset: {}, [{1: "y", "a": 2}], **kw)
    assert [c for c in df.columns if not str(c).startswith("_")] == [1, "a"]
    assert df[1].tolist() == ["x", "y"]
    assert df["_pset_sha1"].tolist() == [ps.pset_hash({1: "x", "a": 1}),
                                         ps.pset_hash({1: "y", "a": 2})]  # fmt: skip


@pytest.mark.parametrize(
    "params", [[{1.5: "x"}], [{1: "x", "1": "y"}]], ids=["float name", "1 and '1'"]
)
def test_parquet_refuses_names_it_cannot_keep(study, params):
    """A name that is neither text nor int, or an int and its text both: refused before
    func runs, naming the column."""
    calls = []
    with pytest.raises(ps.PsweepFormatError, match="column name"):
        ps.run_local(lambda pset: calls.append(pset) or {}, params,
                     database_basename="database.parquet")  # fmt: skip
    assert calls == []


def test_verbose_prints_surrogate_escaped_text(study, capsys):
    """verbose=True prints such a parameter with its bytes escaped (\\udcXX)."""
    ps.run_local(lambda pset: {}, ps.plist("f", [LATIN1_NAME]), verbose=True)
    assert "caf\\udce9.dat" in capsys.readouterr().out
