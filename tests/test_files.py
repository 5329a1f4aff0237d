"""Tests of psweep.store.files: shell, path and file helpers."""

import os
import subprocess
import sys
import uuid

import pandas as pd
import pytest

import psweep as ps


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_system_string_runs_in_shell():
    """It runs a string in the shell and returns the CompletedProcess with stdout as bytes."""
    proc = ps.system("echo hi")
    assert isinstance(proc, subprocess.CompletedProcess)
    assert proc.returncode == 0
    assert proc.stdout == b"hi\n"
    assert ps.system("echo $((1 + 2))").stdout == b"3\n"


def test_system_list_runs_without_shell():
    """It runs a list without a shell, so shell syntax stays literal."""
    proc = ps.system(["echo", "a;b", "$((1 + 2))"])
    assert proc.stdout == b"a;b $((1 + 2))\n"


def test_system_captures_stderr_into_stdout():
    """It captures stderr together with stdout."""
    code = "import sys; print('out', flush=True); sys.stderr.write('err\\n')"
    proc = ps.system([sys.executable, "-c", code])
    assert proc.stdout == b"out\nerr\n"
    assert proc.stderr is None


def test_system_failure_carries_output():
    """It raises PsweepCommandError, a CalledProcessError, holding and showing the output."""
    code = "import sys; print('to-stdout', flush=True); sys.stderr.write('to-stderr'); sys.exit(3)"
    cmd = [sys.executable, "-c", code]
    with pytest.raises(ps.PsweepCommandError) as info:
        ps.system(cmd)
    exc = info.value
    assert isinstance(exc, subprocess.CalledProcessError)
    assert isinstance(exc, ps.PsweepError)
    assert exc.returncode == 3
    assert exc.cmd == cmd
    assert exc.output == b"to-stdout\nto-stderr"
    assert exc.stdout == exc.output
    assert "to-stdout" in str(exc)
    assert "to-stderr" in str(exc)
    assert "exit status 3" in str(exc)


def test_system_failure_in_shell():
    """It raises PsweepCommandError for a failing shell string, too."""
    with pytest.raises(ps.PsweepCommandError, match="no-such-file") as info:
        ps.system("cat no-such-file")
    assert info.value.returncode != 0


def test_makedirs(tmp_path):
    """It creates nested dirs, accepts existing ones, and does nothing for an empty string."""
    ps.makedirs("a/b/c")
    assert (tmp_path / "a" / "b" / "c").is_dir()
    ps.makedirs("a/b/c")
    ps.makedirs(tmp_path / "a" / "d")
    assert (tmp_path / "a" / "d").is_dir()
    before = sorted(os.listdir(tmp_path))
    ps.makedirs("")
    assert sorted(os.listdir(tmp_path)) == before == ["a"]


def test_fullpath(tmp_path, monkeypatch):
    """It expands ~ and makes a path absolute."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    assert ps.fullpath("~/x/y") == str(home / "x" / "y")
    assert ps.fullpath("rel/f.txt") == os.path.join(os.getcwd(), "rel", "f.txt")
    assert ps.fullpath("a/../b") == os.path.join(os.getcwd(), "b")
    assert ps.fullpath(tmp_path / "z") == str(tmp_path / "z")


def test_file_write_read(tmp_path):
    """It writes text creating parent dirs, appends with mode="a", and reads it back."""
    fn = "sub/dir/f.txt"
    ps.file_write(fn, "hello\n")
    assert ps.file_read(fn) == "hello\n"
    ps.file_write(fn, "more\n", mode="a")
    assert ps.file_read(fn) == "hello\nmore\n"
    ps.file_write(fn, "new\n")
    assert ps.file_read(tmp_path / fn) == "new\n"
    ps.file_write("other/g.txt", "x", mode="a")
    assert ps.file_read("other/g.txt") == "x"
    assert os.listdir(tmp_path / "sub" / "dir") == ["f.txt"]


def test_pickle_write_read(tmp_path):
    """It pickles an object to a file, creating parent dirs, and reads it back."""
    obj = {"a": [1, 2.5], "t": (1, "x"), "s": {3, 4}, "n": None}
    ps.pickle_write("p/q/obj.pk", obj)
    assert ps.pickle_read("p/q/obj.pk") == obj
    assert ps.pickle_read(tmp_path / "p" / "q" / "obj.pk") == obj


def test_check_calc_dir(tmp_path):
    """It compares UUID-named subfolders with df._pset_id, ignoring other entries."""
    id_both, id_disk, id_db, id_file = (str(uuid.UUID(int=n)) for n in (1, 2, 3, 4))
    calc = tmp_path / "calc"
    for name in (id_both, id_disk, "not-a-uuid", "plots"):
        (calc / name).mkdir(parents=True)
    (calc / id_file).write_text("a file named like a UUID")
    (calc / "database.pk").write_bytes(b"")
    df = pd.DataFrame({"_pset_id": [id_both, id_db], "a": [1, 2]})
    got = ps.check_calc_dir(str(calc), df)
    assert got == {"db_not_disk": {id_db}, "disk_not_db": {id_disk}}


def test_check_calc_dir_in_sync(tmp_path):
    """It returns two empty sets when folders and database agree."""
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for name in ids:
        (tmp_path / "calc" / name).mkdir(parents=True)
    df = pd.DataFrame({"_pset_id": ids})
    assert ps.check_calc_dir("calc", df) == {"db_not_disk": set(), "disk_not_db": set()}


def test_check_calc_dir_missing():
    """It raises FileNotFoundError for a calc dir that does not exist."""
    df = pd.DataFrame({"_pset_id": [str(uuid.uuid4())]})
    with pytest.raises(FileNotFoundError, match="nope"):
        ps.check_calc_dir("nope", df)


def test_a_private_database_stays_private_after_a_run(tmp_path, monkeypatch):
    """chmod 600 on the database holds after the next run, which replaces the file whole
    (it used to come back with the umask's 644)."""
    monkeypatch.chdir(tmp_path)
    ps.run_local(lambda p: {}, ps.plist("a", [1]))
    os.chmod("calc/database.pk", 0o600)
    ps.run_local(lambda p: {}, ps.plist("a", [2]))
    assert os.stat("calc/database.pk").st_mode & 0o777 == 0o600
    assert len(ps.df_read("calc/database.pk")) == 2
