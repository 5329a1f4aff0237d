"""Which columns of a database are parameters (issue 20): df_extract_params and
df_extract_pset give the psets as they ran, so that they hash as they did."""

from __future__ import annotations

import random

import pandas as pd
import pytest

import psweep as ps


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def readme_func(pset):
    return {"result": random.random() * pset["a"] * pset["b"]}


def test_readme_first_study_params_are_its_psets(study):
    """The README's first study returns "result" (no trailing _): it is no parameter,
    and skip_dups on the extracted psets runs nothing."""
    params = ps.pgrid(ps.plist("a", [1, 2, 3]), ps.plist("b", [88, 99]))
    df = ps.run_local(readme_func, params)
    assert ps.df_extract_params(df) == params
    pid = df.index[0]
    assert ps.df_extract_pset(df, pid) == params[0]
    calls = []
    ps.run_local(lambda p: calls.append(p) or {}, ps.df_extract_params(df), skip_dups=True)
    assert calls == []


def test_params_added_by_a_later_run_and_results_of_both(study):
    """A later run adds a parameter (a column after the results of the first run) and
    returns the same result: the new column is a parameter, the result is not."""
    first = ps.plist("a", [1, 2])
    later = [{"a": 3, "c": "x"}]
    ps.run_local(readme_func, [{**p, "b": 1} for p in first])
    df = ps.run_local(readme_func, [{**p, "b": 1} for p in later])
    got = ps.df_extract_params(df)
    assert got == [{"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 3, "b": 1, "c": "x"}]
    assert [ps.pset_hash(p) for p in got] == df["_pset_sha1"].tolist()


def test_keys_a_pset_lacked_stay_absent_but_none_values_stay(study):
    """A key a pset did not have is left out of its extracted pset; a value None that a
    pset did have stays (each as the stored hash says)."""
    params = [{"a": 1}, {"a": 2, "b": 3}, {"a": 4, "b": None}]
    df = ps.run_local(lambda p: {"r_": 1}, params)
    assert ps.df_extract_params(df) == params


def test_016_layout_and_filled_columns_unchanged():
    """ps.run's databases (pd.NA filled in, a column added by df_update_pset_cols) keep
    psweep 0.16's answer: every pset column, pd.NA included."""
    params = [{"a": 1, "b": pd.NA}, {"a": 2, "b": "xx"}]
    df = ps.run(lambda p: {}, params, save=False)
    ps.df_update_pset_cols(df, pset_cols=["a", "b", "c"], fill_value=pd.NA)
    got = ps.df_extract_params(df)
    assert [set(p) for p in got] == [{"a", "b", "c"}] * 2
    assert got[1]["a"] == 2 and got[1]["b"] == "xx" and got[1]["c"] is pd.NA


def test_plain_dataframe_without_bookkeeping():
    """A DataFrame without psweep's columns: every column that is neither _x nor x_."""
    df = pd.DataFrame({"a": [1], "r_": [2], "_x": [3], "result": [4]})
    assert ps.df_extract_params(df) == [{"a": 1, "result": 4}]
