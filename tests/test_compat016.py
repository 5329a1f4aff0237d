"""psweep 0.16's run(): its arguments, columns, capture_logs, fill_value, and its hashes."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import psweep as ps
from psweep.lifecycle.merge import merge_databases


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def func_prints(pset):
    """Writes through Python and through a child process, to both streams."""
    print("py-out", pset["a"])
    print("py-err", pset["a"], file=sys.stderr)
    subprocess.run(["sh", "-c", f"echo sub-out {pset['a']}; echo sub-err {pset['a']} >&2"])
    os.system(f"echo system {pset['a']}")
    return {"r_": pset["a"] * 10}


def expected_log(a):
    return f"py-out {a}\npy-err {a}\nsub-out {a}\nsub-err {a}\nsystem {a}\n"


def func_fails_after_print(pset):
    print("about to fail", pset["a"])
    if pset["a"] == 2:
        raise ValueError("two is bad")
    return {}


def func_sees(pset):
    return {"seen_b": repr(pset["b"])}


def func_plain(pset):
    return {"r_": pset["a"]}


# -- capture_logs ------------------------------------------------------------------


@pytest.mark.parametrize("poolsize", [None, 2])
@pytest.mark.parametrize("mode", ["db", "file", "db+file"])
def test_capture_logs_catches_python_and_subprocess_output(study, mode, poolsize):
    """Python and child-process writes to stdout and stderr land in order, per pset."""
    df = ps.run(func_prints, ps.plist("a", [1, 2, 3]), poolsize=poolsize, capture_logs=mode)
    for _, row in df.iterrows():
        fn = study / "calc" / row["_pset_id"] / "logs.txt"
        if "db" in mode:
            assert row["_logs"] == expected_log(row["a"])
        else:
            assert "_logs" not in df.columns
        if "file" in mode:
            assert fn.read_text() == expected_log(row["a"])
        else:
            assert not fn.exists()
    assert df["r_"].tolist() == [10, 20, 30]
    stored = ps.df_read("calc/database.pk")
    if "db" in mode:
        assert stored["_logs"].tolist() == df["_logs"].tolist()


def test_capture_logs_leaves_the_terminal_alone_afterwards(study, capfd):
    """After the run, stdout and stderr are the process's own again."""
    ps.run(func_prints, ps.plist("a", [1]), capture_logs="db")
    print("after the run")
    out, err = capfd.readouterr()
    assert "after the run" in out
    assert "py-out" not in out and "sub-out" not in out and "sub-err" not in err


def test_capture_logs_keeps_the_output_of_a_failed_pset(study):
    """With on_error='record', a failed pset's row has what it printed before failing."""
    df = ps.run(func_fails_after_print, ps.plist("a", [1, 2]), capture_logs="db", on_error="record")
    failed = df[df["_pset_status"] == "failed"].iloc[0]
    assert failed["_logs"] == "about to fail 2\n"
    assert "two is bad" in failed["_exc"]


def test_capture_logs_on_dask(study):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=2, processes=True) as cluster,
        Client(cluster) as client,
    ):
        df = ps.run(
            func_prints, ps.plist("a", [1, 2, 3, 4]), dask_client=client, capture_logs="db+file"
        )
    for _, row in df.iterrows():
        assert row["_logs"] == expected_log(row["a"])
        assert (study / "calc" / row["_pset_id"] / "logs.txt").read_text() == row["_logs"]


@pytest.mark.parametrize("bad", ["DB", "files", 1, True])
def test_capture_logs_rejects_other_values_before_running(study, bad):
    with pytest.raises(ps.PsweepParamsError, match="capture_logs"):
        ps.run(func_plain, ps.plist("a", [1]), capture_logs=bad)
    assert not os.path.exists("calc")


def test_capture_logs_not_with_simulate(study):
    """A simulated run calls no func, so nothing is captured and no log file is made."""
    df = ps.run(func_prints, ps.plist("a", [1]), simulate=True, capture_logs="file")
    assert not (study / "calc.simulate" / df["_pset_id"].iloc[0] / "logs.txt").exists()


# -- fill_value, columns ------------------------------------------------------------


def test_fill_value_is_what_func_sees_for_missing_keys(study):
    df = ps.run(func_sees, [{"a": 1}, {"a": 2, "b": 3}])
    assert df["seen_b"].tolist() == ["<NA>", "3"]
    assert df["b"].iloc[0] is pd.NA
    df = ps.run(func_sees, [{"a": 1}, {"a": 2, "b": 3}], calc_dir="calc2", fill_value=None)
    assert df["seen_b"].tolist() == ["None", "3"]


def test_filled_psets_hash_like_the_psets_given(study):
    """pd.NA counts as an absent key: {a:1} filled with b=NA keeps the hash of {a:1}."""
    df = ps.run(func_plain, [{"a": 1}, {"a": 2, "b": 3}])
    assert df["_pset_hash"].tolist() == [ps.pset_hash({"a": 1}), ps.pset_hash({"a": 2, "b": 3})]
    again = ps.run(func_plain, [{"a": 1}, {"a": 2, "b": 3}], skip_dups=True)
    assert len(again) == 2


def test_run_local_passes_psets_as_given(study):
    """The 0.7.0 entry point does not fill: func sees the pset it was given."""
    seen = []
    ps.run_local(lambda p: seen.append(sorted(k for k in p if not k.startswith("_"))) or {},
                 [{"a": 1}, {"a": 2, "b": 3}])  # fmt: skip
    assert seen == [["a"], ["a", "b"]]


def test_pset_hash_and_exec_host_columns(study):
    """0.16 scripts read _pset_hash and _exec_host: both are in every row."""
    df = ps.run(func_plain, ps.plist("a", [1, 2, 3, 4]))
    df = ps.run(func_plain, ps.plist("a", [1, 2, 3, 4]))
    assert len(df) == 8
    assert df["_run_id"].nunique() == 2
    assert df["_pset_hash"].nunique() == 4
    assert "_pset_sha1" not in df.columns  # 0.16's name of the hash only
    assert df["_pset_hash"].tolist() == [ps.pset_hash({"a": a}) for a in [1, 2, 3, 4] * 2]
    assert df.groupby("_pset_hash")["r_"].count().tolist() == [2, 2, 2, 2]
    assert set(df["_exec_host"]) == {platform.node()}
    assert df["_pset_seq"].tolist() == list(range(8))
    again = ps.run(func_plain, ps.plist("a", [1, 2, 3, 4]), skip_dups=True)
    assert len(again) == 8


def test_func_sees_pset_hash_and_exec_host(study):
    df = ps.run(lambda p: {"h": p["_pset_hash"], "host": p["_exec_host"]}, ps.plist("a", [1]))
    assert df["h"].iloc[0] == ps.pset_hash({"a": 1})
    assert df["host"].iloc[0] == platform.node()


def test_postfix_keys_given_as_params_do_not_change_the_hash(study):
    df = ps.run(func_plain, [{"a": 1, "note_": "first"}, {"a": 1, "note_": "second"}])
    assert df["_pset_hash"].nunique() == 1


# -- DataFrame helpers -------------------------------------------------------------


def test_df_update_pset_hash_in_place_and_copy():
    df = pd.DataFrame({"a": [1, 2], "b": [3.5, np.nan], "_x": [0, 0], "y_": [9, 9]})
    out = ps.df_update_pset_hash(df, copy=True)
    assert "_pset_hash" not in df.columns
    assert out["_pset_hash"].tolist() == [
        ps.pset_hash({"a": 1, "b": 3.5}),
        ps.pset_hash({"a": 2, "b": np.nan}),  # cells as they are (0.16)
    ]
    with_na = pd.DataFrame({"a": [2], "b": [pd.NA]}, dtype=object)
    assert ps.df_update_pset_hash(with_na)["_pset_hash"].iloc[0] == ps.pset_hash({"a": 2})
    assert ps.df_update_pset_hash(df) is df
    assert df["_pset_hash"].tolist() == out["_pset_hash"].tolist()


def test_df_update_pset_cols_adds_filled_columns_and_rehashes():
    df = pd.DataFrame({"a": [1, 2], "_pset_hash": ["old", "old"]})
    ps.df_update_pset_cols(df, ["a", "c"])
    assert df["c"].tolist() == [pd.NA, pd.NA]
    assert df["_pset_hash"].tolist() == [ps.pset_hash({"a": 1}), ps.pset_hash({"a": 2})]
    ps.df_update_pset_cols(df, ["a", "c", "e"], fill_value=None)
    assert df["_pset_hash"].iloc[0] == ps.pset_hash({"a": 1, "e": None})
    with pytest.raises(AssertionError, match="name all of them"):
        ps.df_update_pset_cols(df, ["a"])
    out = ps.df_update_pset_cols(df, ["a", "c", "d"], fill_value=0, copy=True)
    assert "d" not in df.columns and out["d"].tolist() == [0, 0]


def test_df_ensure_dtypes_fills_scalars_only():
    df = pd.DataFrame({"a": [1.0, np.nan], "b": [np.array([np.nan]), None], "c": ["x", "y"]})
    out = ps.df_ensure_dtypes(df)
    assert all(dt == np.dtype(object) for dt in out.dtypes)
    assert out["a"].tolist()[1] is pd.NA
    assert out["b"].iloc[1] is pd.NA
    assert np.isnan(out["b"].iloc[0][0])  # an array cell stays as it is
    assert df["a"].iloc[1] is pd.NA  # like 0.16, the caller's df is changed too
    assert ps.df_ensure_dtypes(pd.DataFrame({"a": [None]}), fill_value=-1)["a"].tolist() == [-1]


# -- pset_hash ---------------------------------------------------------------------

NESTED = {"a": 1, "b": {"c": 2, "d": [1, 2, "a"]}}


def test_pset_hash_default_keeps_the_070_values():
    assert ps.pset_hash({"a": 1}) == "e4ad4daad53a2eec0313386ada88211e50d693bd"
    assert ps.pset_hash(NESTED) == "c97e3156eaa0d0820cbc0ce114b3e45bef8e8536"


def test_pset_hash_skips_prefix_and_postfix_keys():
    base = ps.pset_hash({"a": 1})
    assert ps.pset_hash({"a": 1, "_x": 5, "y_": 7, "_z_": 0}) == base
    assert ps.pset_hash({"a": 1, "y_": 7}, skip_postfix_cols=False) != base
    assert ps.pset_hash({"a": 1, "_x": 5}, skip_prefix_cols=False) != base
    assert ps.pset_hash({"a": 1, "_x": 5}, skip_special_cols=False) == ps.pset_hash(
        {"a": 1, "_x": 5}, skip_prefix_cols=False
    )
    assert ps.pset_hash({"a": 1, "b": pd.NA}) == base


# 0.16's values, from joblib.hash with sha1 (spec, section 11)
JOBLIB_VECTORS = [
    ({}, "62977be8e45d8a56a5537c11dfd5d2fd8dda69e0"),
    ({"_a": 1, "b_": 2}, "62977be8e45d8a56a5537c11dfd5d2fd8dda69e0"),
    ({"a": 1}, "64846e128be5c974d6194f77557d0511542835a8"),
    ({"a": 1, "_x": 5, "y_": 7}, "64846e128be5c974d6194f77557d0511542835a8"),
    ({"a": 1, "b": 88}, "2580bf27aca152e5427389214758e61ea0e544e0"),
    ({"a": 1, "b": 2}, "f1e77cfd07e4d7919f5bc9ac0e9bbbc28eda40d3"),
    (NESTED, "c41c669212f58293fb88aba643b24a995d9aff1a"),
    ({"a": 1.0}, "2df50226b8dd11c17a057bcb15a91c6c0eae6c61"),
    ({"a": "1"}, "d2b05458b2ba1e1c2287d8ce2ee9c34d4ab8b80e"),
    ({"a": None}, "d158ba4759800d1fea3af43dbfe3b9e176c2154f"),
    ({"a": np.int64(1)}, "e472e4ed52b68ced1fa57ce5ab29ea76f932385b"),
]


@pytest.mark.parametrize(("pset", "expected"), JOBLIB_VECTORS)
def test_pset_hash_joblib_gives_the_016_values(pset, expected):
    pytest.importorskip("joblib")
    assert ps.pset_hash(pset, method="joblib") == expected


def test_pset_hash_joblib_options():
    pytest.importorskip("joblib")
    assert ps.pset_hash(NESTED, method="joblib-md5") == "3eb2df902d2ee684933d0a17b43f4eff"
    assert (
        ps.pset_hash({"a": 1, "_x": 5}, method="joblib", skip_prefix_cols=False)
        == "13d2339b9870c5346db0d8d336e7a98f4426f093"
    )
    with pytest.raises(ps.PsweepParamsError, match="joblib-sha256"):
        ps.pset_hash({"a": 1}, method="joblib-sha256")


@pytest.mark.parametrize("bad", ["a", 1, {"a": 1}])
def test_verbose_of_another_type_is_refused(study, bad):
    """0.16 raises ValueError for a verbose that is neither a bool nor a list of columns."""
    with pytest.raises(ValueError, match="verbose"):
        ps.run(func_plain, ps.plist("a", [1]), verbose=bad)


def test_classes_ufuncs_and_functions_have_no_hash_but_joblibs():
    """As in psweep 0.7.0, pset_hash gives functions, classes and ufuncs no hash (a name
    says nothing of what it computes); method="joblib" hashes them by name, as 0.16."""
    for value in (np.sin, ps.DfComparison, ps.pset_hash, lambda x: x):
        with pytest.raises(ps.PsweepHashError, match="method='joblib'"):
            ps.pset_hash({"f": value})
        assert ps.pset_hash({"f": value}, raise_error=False) is np.nan
    h = ps.pset_hash({"f": np.sin}, method="joblib")
    assert h == ps.pset_hash({"f": np.sin}, method="joblib")
    assert h != ps.pset_hash({"f": np.cos}, method="joblib")


def test_df_write_in_016_order_writes_016_json(tmp_path):
    """df_write(fn, df) is 0.16's call and gets 0.16's JSON, tuples and all."""
    df = pd.DataFrame({"t": [(1, 2.5, "x")], "f": [0.1]})
    ps.df_write(tmp_path / "a.json", df)
    assert (tmp_path / "a.json").read_text().startswith("[")
    back = ps.df_read(tmp_path / "a.json")
    assert back["t"].iloc[0] == [1, 2.5, "x"] and back["f"].iloc[0] == 0.1
    with pytest.raises(ps.PsweepFormatError, match="tuple"):
        ps.df_write(df, tmp_path / "b.json")  # our order: exact JSON, which refuses tuples


def test_func_wrapper_builds_one_row(tmp_path):
    pset = {"a": 2, "_pset_id": "p1", "_run_id": "r1", "_calc_dir": str(tmp_path)}
    row = ps.func_wrapper(pset, lambda p: {"r_": p["a"] * 3}, tmpsave=True)
    assert row["r_"] == 6 and row["_exec_host"] == platform.node()
    assert isinstance(row["_time_utc"], pd.Timestamp) and row["_pset_runtime"] >= 0
    assert ps.pickle_read(str(tmp_path / "tmpsave" / "r1" / "p1.pk")) == row
    assert "r_" not in ps.func_wrapper(pset, lambda p: {"r_": 1}, simulate=True)
    with pytest.raises(KeyError, match="_run_id"):
        ps.func_wrapper({"a": 1, "_pset_id": "p", "_calc_dir": "c"}, lambda p: {})
    with pytest.raises(TypeError, match="dict"):
        ps.func_wrapper(pset, lambda p: None)


def test_capture_logs_wrapper(tmp_path):
    pset = {"a": 1, "_pset_id": "p1", "_calc_dir": str(tmp_path)}
    ret = ps.capture_logs_wrapper(pset, func_prints, "db+file")
    assert ret["_logs"] == expected_log(1) == (tmp_path / "p1" / "logs.txt").read_text()
    assert ret["r_"] == 10
    with pytest.raises(ValueError, match="capture_logs"):
        ps.capture_logs_wrapper(pset, func_prints, "stdout")


def func_result10(pset):
    return {"result": pset["a"] * 10}  # a result named without 0.16's trailing _


def _check_unique(df):
    assert df["_pset_id"].is_unique and df["_pset_seq"].is_unique and df.index.is_unique
    assert sorted(df["_pset_seq"]) == list(range(len(df)))


def test_a_stale_df_of_ps_run_joins_the_file_without_duplicates(study):
    """A DataFrame returned by ps.run (indexed by _pset_seq), passed back as df=, pairs
    with the file's rows by _pset_id: no row twice, no done pset run again."""
    df = ps.run(func_result10, ps.plist("a", [1, 2]))
    df = ps.run(func_result10, ps.plist("a", [3]), df=df)
    assert len(df) == 3
    _check_unique(df)
    stale = ps.run_local(func_result10, ps.plist("a", [4]), df=df)
    again = ps.run(func_result10, ps.plist("a", [1, 2, 3, 4, 5]), df=stale, skip_dups=True)
    assert sorted(again["a"]) == [1, 2, 3, 4, 5]
    _check_unique(again)
    assert again["_pset_hash"].tolist() == [ps.pset_hash({"a": a}) for a in again["a"]]


def test_pull_pairs_rows_by_id_whichever_entry_wrote_them(study):
    """Merging a remote copy (as psweep-pull does) into a database of ps.run keeps every
    row of both sides, paired by _pset_id, not by the 0.16 layout's integer index."""
    ps.run(func_result10, ps.plist("a", [1, 2]), calc_dir="local")
    shutil.copytree("local", "remote")
    ps.run(func_result10, ps.plist("a", [3]), calc_dir="remote")
    ps.run(func_result10, ps.plist("a", [4]), calc_dir="local")
    remote = ps.df_read("remote/database.pk")
    out, nnew, nshared = merge_databases("local/database.pk", remote)
    assert (nnew, nshared) == (1, 2)
    assert sorted(out["a"]) == [1, 2, 3, 4] and out["_pset_id"].is_unique
    ps.run_local(func_result10, ps.plist("a", [9]), calc_dir="mixed")
    out, nnew, _ = merge_databases("mixed/database.pk", remote)
    assert nnew == 3 and len(out) == 4 and out["_pset_id"].is_unique


def test_ps_run_keeps_the_sha1_column_of_a_070_database(study):
    """ps.run on a run_local database adds _pset_hash and keeps _pset_sha1."""
    ps.run_local(func_result10, ps.plist("a", [1, 2]))
    df = ps.run(func_result10, ps.plist("a", [3]))
    on_disk = ps.df_read("calc/database.pk")
    for frame in (df, on_disk):
        assert (frame["_pset_sha1"] == frame["_pset_hash"]).all()
        assert list(frame.index) == list(frame["_pset_seq"])
    assert len(ps.run(func_result10, ps.plist("a", [1, 2, 3]), skip_dups=True)) == 3


def test_df_compare_pairs_ps_run_databases_by_their_hash(study):
    """df_compare pairs rows of ps.run databases by _pset_hash, their name of the hash."""
    a = ps.run(func_result10, ps.plist("a", [1, 2]))
    assert ps.df_compare(a, a.copy()).same
    b = ps.run_local(func_result10, ps.plist("a", [1, 2]), calc_dir="other")
    assert ps.df_compare(a, b).same


def test_a_pset_that_cannot_be_pickled_is_refused_before_it_runs(study):
    """A pickle database cannot hold a lambda: the run stops before func runs, naming the
    pset and key, and nothing is written (it used to run all, then fail to save)."""
    ran = []
    params = [{"a": 1, "b": 2}, {"a": 3, "b": lambda x: x}]
    with pytest.raises(ps.PsweepFormatError, match=r"pset 1 .*'b' cannot be pickled"):
        ps.run_local(lambda p: ran.append(p) or {}, params, on_error="record")
    assert ran == [] and not os.path.exists("calc/database.pk")
