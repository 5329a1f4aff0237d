"""Tests of StudyPaths: where a study's files are, named in one place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import psweep as ps
from psweep.store.paths import DATABASE_BASENAMES, DATABASE_FORMATS, StudyPaths, database_format


@pytest.mark.parametrize("given", ["calc", "calc/", "./calc", "calc//", Path("calc")])
def test_calc_dir_is_normalised_once(given):
    """It takes "calc/", "./calc" and Path("calc") for "calc": one study, one set of paths."""
    assert StudyPaths(given) == StudyPaths("calc")
    assert StudyPaths(given).simulate_dir == "calc.simulate"
    assert StudyPaths(given).backup_dir("T", "r") == "calc.bak_TZ_run_id_r"


def test_the_files_of_a_study():
    """It names the database, runs table, .psweep/, journals, lock and pull staging."""
    paths = StudyPaths("calc", "database.json")
    assert paths.database == os.path.join("calc", "database.json")
    assert paths.database_format == "json"
    assert paths.runs_table == os.path.join("calc", "runs.pk")
    assert paths.psweep_dir == os.path.join("calc", ".psweep")
    assert paths.journal_root == os.path.join("calc", ".psweep", "journal")
    assert paths.run_journal("r1") == os.path.join("calc", ".psweep", "journal", "r1")
    assert paths.lock == os.path.join("calc", ".psweep", "database.json.lock")
    assert paths.pull_staging == os.path.join("calc", ".psweep", "pull")


def test_database_dir_holds_the_database_and_psweeps_state():
    """With database_dir, the database, runs table and .psweep/ are there; the pset
    folders, simulate dir and backups stay with the calc dir."""
    paths = StudyPaths("calc/", "database.pk", "db/")
    assert paths.database == os.path.join("db", "database.pk")
    assert paths.runs_table == os.path.join("db", "runs.pk")
    assert paths.lock == os.path.join("db", ".psweep", "database.pk.lock")
    assert paths.simulate_dir == "calc.simulate"
    assert not paths.database_in_calc_dir
    assert StudyPaths("calc", database_dir="calc/db").database_in_calc_dir
    assert StudyPaths("calc").database_in_calc_dir


def test_an_empty_database_dir_is_the_current_folder():
    """database_dir="" is the current folder (as in psweep 0.7.0), not the calc dir."""
    assert StudyPaths("calc", database_dir="").database == os.path.join(".", "database.pk")


def test_simulated_study_is_all_in_the_simulate_dir():
    """The simulated run's paths are those of a study in <calc_dir>.simulate, whatever
    database_dir the study has."""
    sim = StudyPaths("calc", "database.parquet", "db").simulated()
    assert sim == StudyPaths("calc.simulate", "database.parquet")
    assert sim.database == os.path.join("calc.simulate", "database.parquet")


def test_usual_database_names_cover_every_format():
    """The usual database names name every format psweep writes."""
    assert {database_format(name) for name in DATABASE_BASENAMES} == set(DATABASE_FORMATS)


def test_database_files_and_what_a_pull_keeps(tmp_path):
    """It finds the database files of every format that exist; a pull keeps all of them,
    the runs table and .psweep/."""
    for name in ("database.parquet", "results.pk", "database.csv"):
        (tmp_path / name).write_text("")
    paths = StudyPaths(tmp_path, "results.pk")
    assert [os.path.basename(fn) for fn in paths.database_files()] == [
        "results.pk",
        "database.parquet",
    ]
    kept = paths.kept_on_pull()
    assert kept[0] == ".psweep/"
    assert {"results.pk", *DATABASE_BASENAMES, "runs.pk"} == set(kept[1:])


def test_the_paths_are_frozen():
    """StudyPaths is a value: it cannot be changed after it is made."""
    paths = StudyPaths("calc")
    with pytest.raises(AttributeError):
        paths.calc_dir = "other"  # type: ignore[misc]


def test_a_run_writes_where_studypaths_says(tmp_path, monkeypatch):
    """run_local writes the database, runs table and .psweep/ where StudyPaths names them."""
    monkeypatch.chdir(tmp_path)
    paths = StudyPaths("calc/", "database.json", "db")
    df = ps.run_local(
        lambda p: {}, ps.plist("a", [1]), calc_dir="calc/", database_basename="database.json",
        database_dir="db",
    )  # fmt: skip
    assert ps.df_read(paths.database).index.equals(df.index)
    assert list(ps.df_runs(paths.database_dir).index) == [df["_run_id"].iloc[0]]
    assert os.path.isfile(os.path.join(paths.psweep_dir, ".gitignore"))
    assert os.listdir(paths.journal_root) == []


def test_running_state_is_journals_pulls_and_locks():
    """In .psweep/, the journals, a pull's staging folder and the locks belong to runs and
    pulls going on; the .gitignore does not."""
    names = ["journal", "database.pk.lock", "pull", ".gitignore"]
    assert StudyPaths.running_state(names) == ["journal", "database.pk.lock", "pull"]
