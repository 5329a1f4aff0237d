"""End-to-end tests of the scripts in examples/.

Every example is copied into a temporary directory and run there in a fresh
interpreter, with the repository root first on PYTHONPATH so that the
in-repo package is used. The tests then inspect the files the example wrote,
reading databases with pandas directly.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

RESERVED_COLS = {
    "_run_id",
    "_pset_id",
    "_run_seq",
    "_pset_seq",
    "_pset_sha1",
    "_pset_runtime",
    "_calc_dir",
    "_time_utc",
}  # psweep 0.7.0's, exactly

# Every example script, relative to examples/, tested in this file. A new
# example must be added here (or to TESTED_ELSEWHERE), and so get a test.
SCRIPTS = [
    "vary_1_param.py",
    "vary_2_params.py",
    "vary_1_param_repeat_same.py",
    "vary_1_param_simulate.py",
    "vary_1_param_study_column.py",
    "vary_1_param_parallel.py",
    "multiple_local_1d_scans/input.py",
    "multiple_local_1d_scans/eval.py",
    "save_data_on_disk/10run.py",
    "save_data_on_disk/20eval.py",
    "resume_after_failure.py",
    "dask_local_cluster.py",
    "report.py",
]
# Examples with their own test module.
TESTED_ELSEWHERE = {
    "demo_study.py": "tests/test_demo.py",
    "batch_with_git/input.py": "tests/test_batch.py",
}

BACKUP_RE = re.compile(
    r"calc\.bak_\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z_run_id_(?P<run_id>[0-9a-f-]{36})"
)


def run_example(script: Path) -> str:
    """Run one script with its own directory as cwd, return its stdout."""
    pythonpath = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)}
    try:
        proc = subprocess.run(
            [sys.executable, script.name],
            cwd=script.parent,
            check=True,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"{script.name} failed:\n{exc.stdout}\n{exc.stderr}")
    return proc.stdout


def copy_example(name: str, tmp_path: Path) -> Path:
    """Copy a script or a whole example folder into tmp_path, return the copy."""
    src = EXAMPLES / name
    dst = tmp_path / name
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy(src, dst)
    return dst


def read_db(path: Path) -> pd.DataFrame:
    df = pd.read_pickle(path)
    assert isinstance(df, pd.DataFrame)
    return df


def test_every_example_is_listed():
    """It knows every example script, so none goes untested."""
    found = sorted(
        p.relative_to(EXAMPLES).as_posix()
        for p in EXAMPLES.rglob("*.py")
        if "templates" not in p.relative_to(EXAMPLES).parts  # batch templates, not scripts
        # the 0.16 workflows are run step by step by tests/test_compat016_examples.py
        and p.relative_to(EXAMPLES).parts[0] != "compat016"
    )
    assert found == sorted([*SCRIPTS, *TESTED_ELSEWHERE])
    for test_module in TESTED_ELSEWHERE.values():
        assert (ROOT / test_module).is_file()


@pytest.mark.parametrize("name", SCRIPTS)
def test_docstring_says_how_to_run(name):
    """Each example has a module docstring naming the command that runs it."""
    script = EXAMPLES / name
    doc = ast.get_docstring(ast.parse(script.read_text()))
    assert doc, f"{name} has no module docstring"
    assert f"python {script.name}" in doc
    assert "import psweep as ps" in script.read_text()


@pytest.mark.parametrize("name", [*SCRIPTS, *TESTED_ELSEWHERE])
def test_readme_lists_example(name):
    """The examples README mentions every example."""
    readme = (EXAMPLES / "README.md").read_text()
    assert name.split("/")[0] in readme


@pytest.mark.parametrize(
    ("name", "n_rows", "n_runs", "user_cols"),
    [
        ("vary_1_param.py", 5, 1, {"a", "result"}),
        ("vary_2_params.py", 9 + 3, 2, {"width", "height", "area"}),
        ("vary_1_param_repeat_same.py", 2 * 3, 2, {"a", "result"}),
        ("vary_1_param_study_column.py", 5 + 5, 2, {"a", "b", "study", "result"}),
        ("vary_1_param_parallel.py", 6, 1, {"a", "result", "pid"}),
    ],
)
def test_writes_database(name, n_rows, n_runs, user_cols, tmp_path):
    """It writes calc/database.pk with one row per pset, the parameters, the
    results and the reserved bookkeeping columns."""
    stdout = run_example(copy_example(name, tmp_path))
    assert stdout.strip()
    df = read_db(tmp_path / "calc" / "database.pk")
    assert len(df) == n_rows
    assert set(df.columns) == user_cols | RESERVED_COLS
    assert df._run_id.nunique() == n_runs
    assert df._pset_id.is_unique
    assert sorted(df._pset_seq) == list(range(n_rows))
    assert not df.isna().any().any()


def test_vary_1_param_results(tmp_path):
    """It stores sqrt(a) next to each value of a."""
    run_example(copy_example("vary_1_param.py", tmp_path))
    df = read_db(tmp_path / "calc" / "database.pk")
    assert list(df.a) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(df.result, np.sqrt(df.a))


def test_vary_2_params_grid_then_zip(tmp_path):
    """It runs the full 3 x 3 grid first, then the 3 zipped pairs."""
    run_example(copy_example("vary_2_params.py", tmp_path))
    df = read_db(tmp_path / "calc" / "database.pk")
    grid = df[df._run_seq == 0]
    pairs = df[df._run_seq == 1]
    assert set(zip(grid.width, grid.height, strict=True)) == {
        (w, h) for w in (1, 2, 3) for h in (10, 20, 30)
    }
    assert list(zip(pairs.width, pairs.height, strict=True)) == [
        (1, 10),
        (2, 20),
        (3, 30),
    ]
    assert (df.area == df.width * df.height).all()


def test_repeat_same_params(tmp_path):
    """It appends a second run with the same hashes but new pset ids."""
    run_example(copy_example("vary_1_param_repeat_same.py", tmp_path))
    df = read_db(tmp_path / "calc" / "database.pk")
    runs = [group for _, group in df.groupby("_run_id", sort=False)]
    assert len(runs) == 2
    first, second = runs
    assert set(first._run_seq) != set(second._run_seq)
    assert len(first) == len(second) == 3
    assert set(first._pset_sha1) == set(second._pset_sha1)
    assert first._pset_sha1.nunique() == 3
    assert not set(first._pset_id) & set(second._pset_id)
    for _, group in df.groupby("_pset_sha1"):
        assert len(group) == 2
        assert group.a.nunique() == 1


def test_simulate_leaves_calc_untouched(tmp_path):
    """It appends simulated rows in calc.simulate/ without calling func and
    leaves calc/ byte for byte as the real run wrote it."""
    script = copy_example("vary_1_param_simulate.py", tmp_path)
    stdout = run_example(script)
    calc = tmp_path / "calc"
    sim = tmp_path / "calc.simulate"

    real = read_db(calc / "database.pk")
    simulated = read_db(sim / "database.pk")
    assert list(real.a) == [1, 2, 3]
    assert list(simulated.a) == [1, 2, 3, 4, 5]
    assert len(simulated) > len(real)
    # The new rows lack "result", which may turn its dtype from int to float.
    pd.testing.assert_frame_equal(simulated.iloc[: len(real)], real, check_dtype=False)
    assert simulated.iloc[len(real) :].result.isna().all()
    assert stdout.count("func called") == 3

    before = {p: p.read_bytes() for p in calc.rglob("*") if p.is_file()}
    stdout = run_example(script)
    after = {p: p.read_bytes() for p in calc.rglob("*") if p.is_file()}
    assert after == before
    assert "func called" not in stdout
    assert len(read_db(sim / "database.pk")) == len(real) + 2


def test_study_column_filters(tmp_path):
    """It labels each scan in the study column, so that the scans can be
    selected by label."""
    stdout = run_example(copy_example("vary_1_param_study_column.py", tmp_path))
    df = read_db(tmp_path / "calc" / "database.pk")
    assert df.groupby("study")._run_id.nunique().to_dict() == {"coarse": 1, "fine": 1}
    assert list(df[df.study == "fine"].a) == [4, 4.5, 5, 5.5, 6]
    assert (df.b == 0.5).all()
    assert "df_filter_conds" in stdout


def test_parallel_same_rows_as_params(tmp_path):
    """It computes every pset once with poolsize=2, rows in params order."""
    run_example(copy_example("vary_1_param_parallel.py", tmp_path))
    df = read_db(tmp_path / "calc" / "database.pk")
    assert list(df.a) == [1, 2, 3, 4, 5, 6]
    assert (df.result == df.a**3).all()
    assert df._run_id.nunique() == 1


def test_multiple_local_1d_scans(tmp_path):
    """It appends one run per 1d scan to one database and backs up calc/
    before every run that finds an existing one."""
    folder = copy_example("multiple_local_1d_scans", tmp_path)
    run_example(folder / "input.py")

    df = read_db(folder / "calc" / "database.pk")
    assert list(df.study.unique()) == ["length", "gravity", "amplitude"]
    assert df.groupby("study", sort=False).size().to_list() == [4, 3, 2]
    assert df._run_id.nunique() == 3
    reference = {"length": 1.0, "gravity": 9.81, "amplitude": 0.1}
    for study, group in df.groupby("study"):
        for col, value in reference.items():
            if col != study:
                assert (group[col] == value).all()

    backups = sorted(folder.glob("calc.bak_*"))
    assert len(backups) == 2
    n_rows = []
    for backup in backups:
        match = BACKUP_RE.fullmatch(backup.name)
        assert match, backup.name
        old = read_db(backup / "database.pk")
        assert old._run_id.iloc[-1] == match["run_id"]
        n_rows.append(len(old))
    assert sorted(n_rows) == [4, 4 + 3]

    stdout = run_example(folder / "eval.py")
    for study in reference:
        assert f"scan of {study!r}" in stdout


def test_save_data_on_disk(tmp_path):
    """It writes calc/<_pset_id>/output.txt per pset, and the eval step adds
    the mean of each file as a new column in calc/database_eval.pk."""
    folder = copy_example("save_data_on_disk", tmp_path)
    run_example(folder / "10run.py")
    calc = folder / "calc"
    df = read_db(calc / "database.pk")
    assert list(df.a) == [1, 2, 3, 4]
    for pset_id, a in zip(df._pset_id, df.a, strict=True):
        out = calc / pset_id / "output.txt"
        assert out.is_file()
        np.testing.assert_allclose(np.loadtxt(out), [a, 2 * a, 4 * a])

    run_example(folder / "20eval.py")
    df_eval = read_db(calc / "database_eval.pk")
    assert "mean" in df_eval.columns
    assert list(df_eval._pset_id) == list(df._pset_id)
    np.testing.assert_allclose(df_eval["mean"], 7 * df_eval.a / 3)
    assert "mean" not in read_db(calc / "database.pk").columns


def test_resume_after_failure(tmp_path):
    """It records two failures, then reruns only them: 5 + 2 rows, all x done."""
    script = copy_example("resume_after_failure.py", tmp_path)
    out = run_example(script)
    assert "2 of 5 psets failed" in out
    assert "ValueError: math domain error" in out
    df = pd.read_pickle(script.parent / "calc" / "database.pk")
    assert len(df) == 7
    assert df["_run_seq"].tolist() == [0] * 5 + [1] * 2
    assert df["x"].iloc[5:].tolist() == [-1.0, -4.0]
    assert (df["_pset_status"].iloc[5:] == "ok").all()


def test_dask_local_cluster(tmp_path):
    """It runs 20 psets on a 2-worker LocalCluster with correct results."""
    pytest.importorskip("distributed")
    script = copy_example("dask_local_cluster.py", tmp_path)
    out = run_example(script)
    assert "20 psets ran in" in out
    df = pd.read_pickle(script.parent / "calc" / "database.pk")
    assert (df["y"] == df["a"] ** 2).all()
    assert df["pid"].nunique() in (1, 2)
