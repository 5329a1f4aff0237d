"""ps.df_compare: two databases row by row (issue 11)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import psweep as ps


def func(pset):
    return {"r": pset["a"] * 0.1, "s": f"x{pset['a']}"}


@pytest.fixture
def two_runs(tmp_path):
    params = ps.plist("a", range(6))
    a = ps.run_local(func, params, calc_dir=tmp_path / "a")
    b = ps.run_local(func, params, calc_dir=tmp_path / "b")
    return a, b


def test_equal_runs_are_the_same_despite_ids_and_times(two_runs):
    a, b = two_runs
    assert not (a["_pset_id"].to_numpy() == b["_pset_id"].to_numpy()).any()
    result = ps.df_compare(a, b)
    assert result.same and bool(result)
    assert result.rows == 6 and result.columns == ["a", "r", "s"]
    assert result.verdict == "same: 6 rows, 3 columns compared (exact)"


def test_a_changed_value_is_named(two_runs):
    a, b = two_runs
    b = b.copy()
    b.loc[b.index[3], "r"] = 0.30000000000000004 + 1e-16 * 5
    result = ps.df_compare(a, b)
    assert not result.same
    assert result.differences["column"].tolist() == ["r"]
    key = result.differences["key"].iloc[0]
    assert key == a["_pset_sha1"].iloc[3]
    assert "column(s) 'r'" in result.verdict
    assert f"row {key}: 'r'" in result.report()
    # within a tolerance they agree
    assert ps.df_compare(a, b, rtol=1e-12).same
    assert "rtol=1e-12" in ps.df_compare(a, b, rtol=1e-12).verdict


def test_missing_and_extra_rows(two_runs):
    a, b = two_runs
    result = ps.df_compare(a, b.iloc[:4])
    assert not result.same
    assert result.only_a == list(a["_pset_sha1"].iloc[4:])
    assert result.only_b == []
    assert "2 rows only in a, 0 only in b" in result.verdict


def test_reordered_rows_are_paired_by_hash(two_runs):
    a, b = two_runs
    assert ps.df_compare(a, b.iloc[::-1]).same
    # by position they differ
    positional = ps.df_compare(a, b.iloc[::-1], on=None)
    assert not positional.same and set(positional.differences["column"]) == {"a", "r", "s"}


def test_nan_equals_nan_but_not_a_number():
    def frame():
        return pd.DataFrame(
            {"x": [1.0, np.nan, np.inf], "o": pd.Series([None, np.nan, "t"], dtype=object)}
        )

    a, b = frame(), frame()
    assert ps.df_compare(a, b, on=None).same
    b.loc[1, "x"] = 0.0
    b.loc[0, "o"] = np.nan  # None is not NaN
    result = ps.df_compare(a, b, on=None)
    assert result.differences[["key", "column"]].values.tolist() == [[0, "o"], [1, "x"]]


def test_columns_in_one_only_and_ignore(two_runs):
    a, b = two_runs
    b = b.assign(extra=1)
    result = ps.df_compare(a, b)
    assert not result.same and result.columns_only_b == ["extra"]
    assert ps.df_compare(a, b, ignore=["extra"]).same
    with pytest.raises(ps.PsweepParamsError, match="nope"):
        ps.df_compare(a, b, ignore=["nope"])
    with pytest.raises(ps.PsweepParamsError, match="on=None"):
        ps.df_compare(a.drop(columns="_pset_sha1"), b)


def test_arrays_and_repeated_psets():
    a = pd.DataFrame({"_pset_sha1": ["h", "h", "k"], "v": [np.ones(3), np.zeros(3), np.ones(2)]})
    b = pd.DataFrame({"_pset_sha1": ["k", "h", "h"], "v": [np.ones(2), np.ones(3), np.zeros(3)]})
    assert ps.df_compare(a, b).same  # the n-th row of a pset pairs with its n-th
    b.at[2, "v"] = np.zeros(3) + 1e-9
    assert not ps.df_compare(a, b).same
    assert ps.df_compare(a, b, atol=1e-6).same


@given(st.lists(st.floats(allow_nan=True), min_size=1, max_size=20))
def test_a_frame_equals_itself_and_a_copy(values):
    df = pd.DataFrame({"x": values, "_pset_sha1": [f"h{i}" for i in range(len(values))]})
    assert ps.df_compare(df, df.copy()).same
    assert ps.df_compare(df, df.iloc[::-1].copy()).same


def test_nan_inside_lists_dicts_and_arrays_equals_itself():
    """A database equals its own copy also where NaN sits inside a list, dict, tuple or
    object array, or is a complex NaN (issue 20)."""

    def cells():  # new NaN objects each time, as a database read back from disk has
        nan = float("nan")
        return [[1.0, nan], {"k": nan, "l": [nan]}, (nan, "x"),
                np.array([nan, "a"], dtype=object), complex(nan, 1),
                {"deep": [{"x": np.float64("nan")}]}]  # fmt: skip

    def frame():
        return pd.DataFrame({"_pset_sha1": [f"h{i}" for i in range(6)],
                             "r": pd.Series(cells(), dtype=object)})  # fmt: skip

    df, copy = frame(), frame()
    nan = float("nan")
    result = ps.df_compare(df, copy)
    assert result.same, result.report()
    copy.at[0, "r"] = [1.0, 2.0]
    copy.at[1, "r"] = {"k": nan, "l": [nan], "m": 1}
    copy.at[2, "r"] = [nan, "x"]  # a list is no tuple
    result = ps.df_compare(df, copy)
    assert list(result.differences["key"]) == ["h0", "h1", "h2"]


def test_docstring_examples_run():
    """The Examples of psweep.observe.compare run as doctests (issue 20)."""
    import doctest

    import psweep.observe.compare

    failed, attempted = doctest.testmod(psweep.observe.compare, optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failed == 0
