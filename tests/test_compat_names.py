"""Names of psweep 0.7.0 and 0.16 that scripts use: constants, git helpers, psweep-checkdir
(issue 12, first part)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

import psweep as ps


def test_constants():
    assert ps.pj("a", "b") == os.path.join("a", "b")
    assert (ps.PANDAS_DEFAULT_ORIENT, ps.PANDAS_TIME_UNIT, ps.PSET_HASH_ALG) == (
        "records", "s", "sha1",
    )  # fmt: skip
    assert ps.GIT_ADD_ALL == "git add -A -v"
    assert (ps.CALC_DIR, ps.DATABASE_BASENAME) == ("calc", "database.pk")
    assert ps.FILL_VALUE is pd.NA


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key, value in {
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@test.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@test.invalid",
        "GIT_CEILING_DIRECTORIES": str(tmp_path.parent),
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    return tmp_path


def _log(path) -> list[str]:
    out = subprocess.run(["git", "log", "--format=%s"], cwd=path, capture_output=True, text=True)
    return out.stdout.split("\n")[:-1]


def test_git_helpers(repo):
    assert not ps.in_git_repo()
    with pytest.raises(ps.PsweepGitError, match="not in a git repository"):
        ps.git_enter(True)
    ps.git_enter(False)  # without git: nothing to check
    (repo / "input.py").write_text("x = 1\n")
    ps.git_enter(True, always_commit=True)  # makes the repository, commits the changes
    assert ps.in_git_repo() and ps.git_clean()
    assert _log(repo) == [f"psweep: {repo.name}: local changes"]
    (repo / "input.py").write_text("x = 2\n")
    assert not ps.git_clean()
    with pytest.raises(ps.PsweepGitError, match="uncommitted changes"):
        ps.git_enter(True)
    ps.git_enter(True, always_commit=True)
    df = ps.run_local(lambda p: {"r": p["a"]}, ps.plist("a", [1]))
    ps.git_exit(True, df)
    assert _log(repo)[0] == f"psweep: {repo.name}: run_id={df['_run_id'].iloc[-1]}"
    assert ps.git_clean()


def test_checkdir_script(tmp_path):
    calc = tmp_path / "calc"
    df = ps.run_local(lambda p: {"r": p["a"]}, ps.plist("a", [1, 2]), calc_dir=calc)
    gone = df["_pset_id"].iloc[0]
    (calc / df["_pset_id"].iloc[1]).mkdir()
    stray = "00000000-0000-4000-8000-000000000000"
    (calc / stray).mkdir()
    code = "import sys; from psweep.cli import check_calc_dir; sys.argv[0] = 'x'; check_calc_dir()"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(calc)], capture_output=True, text=True, check=True
    )
    assert json.loads(proc.stdout) == {"db_not_disk": [gone], "disk_not_db": [stray]}
    from importlib import metadata

    scripts = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert scripts.get("psweep-checkdir") == "psweep.cli:check_calc_dir"


def test_flatten_dict():
    nested = {"a": {"b": 1, "c": {"d": 2}, "e": {}}, 3: "top", "f": [1, {"g": 1}]}
    assert ps.flatten_dict(nested) == {"a_b": 1, "a_c_d": 2, 3: "top", "f": [1, {"g": 1}]}
    assert ps.flatten_dict({"x": {1: "y"}}, join_str=".") == {"x.1": "y"}


def test_json_write_read(tmp_path):
    fn = tmp_path / "deep" / "er" / "x.json"
    obj = {"a": [1, 2.5, None], "b": {"c": "ü"}}
    ps.json_write(fn, obj)
    assert ps.json_read(fn) == obj
    assert fn.read_text().startswith('{\n  "a": [')  # indent=2


def test_uuids():
    existing = ps.get_many_uuids(50)
    new = ps.get_many_uuids(500, existing=existing)
    assert len(set(new)) == 500 and not set(new) & set(existing)
    assert ps.get_uuid(existing=new) not in new
    assert ps.get_many_uuids(0) == []
    with pytest.raises(ps.PsweepParamsError, match="num"):
        ps.get_many_uuids(-1)


def test_merge_dicts_allow_dup_keys_and_itr_keywords():
    a, b = {"a": 1}, {"b": 2}
    assert ps.merge_dicts(a, b, {"a": 3}, allow_dup_keys=False) == {"a": 3, "b": 2}  # as 0.16
    assert ps.merge_dicts([a, b], allow_dup_keys=False) == {"a": 1, "b": 2}
    with pytest.raises(ps.PsweepParamsError, match="key 'a' is in the dicts at positions 0 and 1"):
        ps.merge_dicts(a, {"a": 2}, allow_dup_keys=False)
    assert ps.merge_dicts(a, {"a": 2}) == {"a": 2}


def test_filter_cols_kinds():
    cols = ["a", "_pset_id", "r_", "_x_", "b"]
    assert ps.filter_cols(cols) == ["a", "b"]
    assert ps.filter_cols(cols, "pre") == ps.filter_cols(cols, "prefix") == ["_pset_id", "_x_"]
    assert ps.filter_cols(cols, "post") == ps.filter_cols(cols, "postfix") == ["r_", "_x_"]
    with pytest.raises(ps.PsweepParamsError, match="kind='result'"):
        ps.filter_cols(cols, "result")


def test_df_extract_helpers():
    df = ps.run_local(lambda p: {"r_": p["a"] * 2}, ps.plist("a", [1, 2]), save=False)
    rows = ps.df_extract_dicts(df)
    assert len(rows) == 2 and rows[0]["_pset_id"] == df["_pset_id"].iloc[0]
    params = ps.df_extract_params(df, py_types=True)
    assert params == [{"a": 1}, {"a": 2}] and type(params[0]["a"]) is int
    # psets read back hash as they did when they ran
    assert [ps.pset_hash(p) for p in params] == list(df["_pset_sha1"])
    pid = df["_pset_id"].iloc[1]
    assert ps.df_extract_pset(df, pid) == {"a": 2}
    assert ps.df_extract_row(df, pid, kind="post") == {"r_": 4}
    with pytest.raises(ps.PsweepParamsError, match="0 rows have _pset_id 'nope'"):
        ps.df_extract_row(df, "nope")


def test_df_filter_conds_op():
    df = pd.DataFrame({"a": range(5)})
    conds = [df.a < 2, df.a > 2]
    assert list(ps.df_filter_conds(df, conds)["a"]) == []
    assert list(ps.df_filter_conds(df, conds, op="or")["a"]) == [0, 1, 3, 4]
    assert list(ps.df_filter_conds(df, [df.a < 3, df.a > 1], op="xor")["a"]) == [0, 1, 3, 4]
    with pytest.raises(ValueError, match="op='nand'"):
        ps.df_filter_conds(df, conds, op="nand")


def test_filter_params_unique_and_dup_hash():
    params = ps.plist("a", [1, 2, 1, 3])
    assert ps.filter_params_unique(params) == ps.plist("a", [1, 2, 3])
    row = {"a": 9, "_pset_hash": "h9"}  # a row read back: its hash is taken as it is
    assert ps.filter_params_unique([row, dict(row)]) == [row]
    done = [ps.pset_hash({"a": 1}), ps.pset_hash({"a": 3})]
    assert ps.filter_params_dup_hash(params, done) == [{"a": 2}]


def test_stargrid_skip_dups_is_filter_dups():
    const, vary = {"a": 1, "b": 7}, [ps.plist("a", [1, 2]), ps.plist("b", [7, 8])]
    assert len(ps.stargrid(const, vary)) == len(ps.stargrid(const, vary, skip_dups=True)) == 3
    assert len(ps.stargrid(const, vary, skip_dups=False)) == 4


def test_df_filter_conds_aligns_series_by_label():
    """A mask Series is applied by its labels, as df[mask] does, also when its rows are in
    another order; one with other labels is an error."""
    df = pd.DataFrame({"a": [1, 2, 3, 4]}, index=["w", "x", "y", "z"])
    shuffled = df.iloc[[3, 1, 0, 2]]
    got = ps.df_filter_conds(df, [shuffled["a"] > 2])
    assert list(got["a"]) == [3, 4] == list(df[shuffled["a"] > 2]["a"])
    with pytest.raises(ValueError, match="index is not the rows of df"):
        ps.df_filter_conds(df, [pd.Series([True] * 4)])
