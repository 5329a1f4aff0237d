"""Tests of the console scripts psweep-db2json and psweep-db2table, and of what the
commands import before they run.

The real installed scripts run in a subprocess on a database made by
ps.run_local; without them on PATH, the entry points run via ``python -c``.
"""

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import psweep as ps


def _command(name):
    """Return the argument list that runs console script `name`."""
    for path in (Path(sys.executable).parent / name, shutil.which(name)):
        if path and os.access(path, os.X_OK):
            return [str(path)]
    func = name.removeprefix("psweep-")
    return [sys.executable, "-c", f"from psweep.cli import {func}; {func}()"]


def run(name, *args):
    return subprocess.run(
        [*_command(name), *map(str, args)], capture_output=True, text=True, timeout=60
    )


def func(pset):
    return {"r": pset["a"] * 2}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A database of three psets, a = 1, 2, 3 and r = 2 * a."""
    tmp_path = tmp_path_factory.mktemp("study")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        df = ps.run_local(func, ps.plist("a", [1, 2, 3]), calc_dir=str(tmp_path / "calc"))
    fn = tmp_path / "calc" / "database.pk"
    assert fn.is_file()
    return fn, df


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _table(text):
    """Split a table printed by tabulate into its header and its rows of cells."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not set(ln) <= set("-| :")]
    cells = [ln.replace("|", " ").split() for ln in lines]
    return cells[0], cells[1:]


def test_db2json_records(db):
    """It prints the database as a JSON list of records."""
    fn, df = db
    proc = run("psweep-db2json", fn)
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert len(records) == 3
    assert [(r["a"], r["r"]) for r in records] == [(1, 2), (2, 4), (3, 6)]
    assert [r["_pset_id"] for r in records] == list(df["_pset_id"])


def test_db2json_orient_index_with_repeated_index(tmp_path):
    """-o index on a database whose index repeats is a one-line error with the way out
    (it was a pandas traceback)."""
    import pandas as pd

    fn = tmp_path / "db.pk"
    pd.DataFrame({"a": [1, 2]}, index=[0, 0]).to_pickle(fn)
    proc = run("psweep-db2json", "-o", "index", str(fn))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "needs a unique index" in proc.stderr and "--orient records" in proc.stderr
    assert run("psweep-db2json", "-o", "records", str(fn)).returncode == 0


def test_db2json_orient_split(db):
    """It prints the split layout with -o split."""
    fn, df = db
    proc = run("psweep-db2json", "-o", "split", fn)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"columns", "index", "data"}
    assert data["columns"] == list(df.columns)
    assert data["index"] == list(df.index)
    assert len(data["data"]) == 3


def test_db2table_default(db):
    """It prints a and r but hides the "_" columns and the index."""
    fn, df = db
    proc = run("psweep-db2table", fn)
    assert proc.returncode == 0, proc.stderr
    header, rows = _table(proc.stdout)
    assert header == ["a", "r"]
    assert rows == [["1", "2"], ["2", "4"], ["3", "6"]]
    assert "_pset_id" not in proc.stdout
    assert df.index[0] not in proc.stdout


def test_db2table_all(db):
    """It shows the bookkeeping columns with -a."""
    fn, df = db
    proc = run("psweep-db2table", "-a", fn)
    assert proc.returncode == 0, proc.stderr
    header, _ = _table(proc.stdout)
    assert header == list(df.columns)
    assert "_pset_id" in header
    assert df["_pset_id"].iloc[0] in proc.stdout


def test_db2table_index(db):
    """It shows the index with -i."""
    fn, df = db
    proc = run("psweep-db2table", "-i", fn)
    assert proc.returncode == 0, proc.stderr
    header, rows = _table(proc.stdout)
    assert header == ["a", "r"]
    assert [row[0] for row in rows] == list(df.index)


def test_db2table_github(db):
    """It prints a pipe table with -f github."""
    fn, _ = db
    proc = run("psweep-db2table", "-f", "github", fn)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 5
    assert all(ln.startswith("|") and ln.endswith("|") for ln in lines)
    assert set(lines[1]) <= set("|-: ")
    header, rows = _table(proc.stdout)
    assert header == ["a", "r"]
    assert rows == [["1", "2"], ["2", "4"], ["3", "6"]]


@pytest.mark.parametrize(
    "args",
    [["{fn}", "r", "a"], ["-c", "r", "{fn}", "-c", "a"], ["{fn}", "r", "-c", "a"]],
    ids=["after-file", "before-file", "mixed"],
)
def test_db2table_columns(db, args):
    """It shows only the named columns, in order, named after the file or with -c."""
    fn, _ = db
    proc = run("psweep-db2table", *[arg.format(fn=fn) for arg in args])
    assert proc.returncode == 0, proc.stderr
    header, rows = _table(proc.stdout)
    assert header == ["r", "a"]
    assert rows == [["2", "1"], ["4", "2"], ["6", "3"]]


def _assert_one_line_error(proc, name):
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert name in lines[0]


@pytest.mark.parametrize("script", ["psweep-db2json", "psweep-db2table"])
def test_missing_file(script):
    """It exits non-zero with a one-line error naming a missing database."""
    proc = run(script, "no_such_database.pk")
    _assert_one_line_error(proc, "no_such_database.pk")


@pytest.mark.parametrize("script", ["psweep-db2json", "psweep-db2table"])
def test_corrupt_file(script, tmp_path):
    """It exits non-zero with a one-line error naming a corrupt database, and leaves it alone."""
    fn = tmp_path / "corrupt.pk"
    data = random.Random(0).randbytes(500)
    fn.write_bytes(data)
    proc = run(script, "corrupt.pk")
    _assert_one_line_error(proc, "corrupt.pk")
    assert fn.read_bytes() == data


@pytest.mark.parametrize("basename", ["database.pk", "database.parquet", "database.json"])
def test_checkdir_knows_every_database_format(tmp_path, basename):
    """Issue 20: psweep-checkdir CALC_DIR finds the database of any format in CALC_DIR
    (it knew only database.pk)."""
    df = ps.run_local(func, ps.plist("a", [1, 2]), database_basename=basename)
    (tmp_path / "calc" / df.index[1]).mkdir()
    proc = run("psweep-checkdir", "calc")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"db_not_disk": [df.index[0]], "disk_not_db": []}


def test_checkdir_without_database_names_what_it_looked_for(tmp_path):
    """A CALC_DIR without a database is a one-line error that names the file names tried."""
    (tmp_path / "calc").mkdir()
    proc = run("psweep-checkdir", "calc")
    _assert_one_line_error(proc, "database.parquet")


def test_checkdir_with_two_databases_asks_which(tmp_path):
    """A CALC_DIR with databases of two formats is an error that names both, unless
    --database-basename says which one to compare."""
    df = ps.run_local(func, ps.plist("a", [1]), database_basename="database.json")
    ps.run_local(func, ps.plist("a", [2]), database_basename="database.pk")
    proc = run("psweep-checkdir", "calc")
    _assert_one_line_error(proc, "database.json")
    assert "database.pk" in proc.stderr
    proc = run("psweep-checkdir", "calc", "--database-basename", "database.json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["db_not_disk"] == [df.index[0]]


@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_and_version_import_no_pandas(option):
    """``psweep --help`` and ``psweep --version`` answer without importing pandas or numpy:
    the parsers are built without the commands' implementations."""
    code = (
        "import json, sys\n"
        f"sys.argv = ['psweep', {option!r}]\n"
        "from psweep.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print(json.dumps([m for m in ('pandas', 'numpy', 'psweep.store.database') "
        "if m in sys.modules]), file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip()  # it printed the help or the version
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
