"""Tests of run_local(..., git=True) against real git repositories."""

from __future__ import annotations

import os
import subprocess

import git as gitpython
import pytest

import psweep as ps
import psweep.store.vcs


def func(pset):
    return {"result": pset["a"] + 1}


def git(*args, cwd="."):
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def identity(monkeypatch, tmp_path_factory):
    """A git identity from the environment, independent of the machine's config."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    for var in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{var}_NAME", "Study Tester")
        monkeypatch.setenv(f"{var}_EMAIL", "tester@example.org")


@pytest.fixture
def repo(tmp_path, monkeypatch, identity):
    path = tmp_path / "my study"
    path.mkdir()
    monkeypatch.chdir(path)
    git("init", "-q", "-b", "main")
    (path / ".gitignore").write_text("calc.bak*\ncalc.simulate\n")
    git("add", ".gitignore")
    git("commit", "-q", "-m", "init")
    return path


def log_subjects():
    return git("log", "--format=%s").splitlines()


def test_commits_before_and_after(repo):
    """It commits local changes before the run and the results after it, with the run id."""
    (repo / "input.py").write_text("# driver\n")
    df = ps.run_local(func, ps.plist("a", [1, 2]), git=True)
    run_id = df["_run_id"].iloc[0]
    subjects = log_subjects()
    assert subjects[:2] == [
        f"psweep: my study: run_id={run_id}",
        f"psweep: my study: run_id={run_id}: local changes",
    ]
    assert "input.py" in git("show", "--name-only", "--format=", "HEAD~1").splitlines()
    assert "calc/database.pk" in git("show", "--name-only", "--format=", "HEAD").splitlines()
    assert git("status", "--porcelain") == ""


def test_clean_tree_makes_no_pre_commit(repo):
    """It makes only the results commit when the tree is clean before the run."""
    df = ps.run_local(func, ps.plist("a", [1]), git=True)
    assert log_subjects() == [f"psweep: my study: run_id={df['_run_id'].iloc[0]}", "init"]


def test_gitignore_respected(repo):
    """It leaves files ignored by .gitignore (backups) out of the commits."""
    ps.run_local(func, ps.plist("a", [1]), git=True)
    ps.run_local(func, ps.plist("a", [2]), git=True, backup=True)
    tracked = git("ls-files").splitlines()
    assert not any(path.startswith("calc.bak") for path in tracked)
    assert any(d.startswith("calc.bak_") for d in os.listdir())
    assert len(log_subjects()) == 3


def test_simulate_makes_no_commits(repo):
    """It does not commit anything in a dry run."""
    ps.run_local(func, ps.plist("a", [1]), git=True)
    (repo / "input.py").write_text("# changed\n")
    ps.run_local(func, ps.plist("a", [2]), git=True, simulate=True)
    assert len(log_subjects()) == 2
    assert "?? input.py" in git("status", "--porcelain")


def test_outside_repo(tmp_path, monkeypatch, identity):
    """It refuses git=True outside a git repository before anything is written."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    with pytest.raises(ps.PsweepGitError, match="not inside a git repository"):
        ps.run_local(func, ps.plist("a", [1]), git=True)
    assert os.listdir(tmp_path) == []


def test_missing_identity(repo, monkeypatch):
    """It names the git config settings to make when git has no identity."""
    for var in ("NAME", "EMAIL"):
        monkeypatch.delenv(f"GIT_AUTHOR_{var}")
        monkeypatch.delenv(f"GIT_COMMITTER_{var}")
    monkeypatch.delenv("EMAIL", raising=False)
    git("config", "user.useConfigOnly", "true")
    (repo / "input.py").write_text("# driver\n")
    with pytest.raises(ps.PsweepGitError) as info:
        ps.run_local(func, ps.plist("a", [1]), git=True)
    msg = str(info.value)
    assert "git config --global user.name" in msg
    assert "git config --global user.email" in msg
    assert not (repo / "calc").exists()
    assert log_subjects() == ["init"]


def _sparse_file(path, size):
    """A file of `size` bytes that takes no disk space (git still sees its full size)."""
    with open(path, "wb") as fh:
        fh.truncate(size)


def _nothing_staged():
    assert git("diff", "--cached", "--name-only") == ""


def test_refuses_to_commit_a_virtualenv(repo):
    """A virtualenv in the study stops the run before it starts, naming it; nothing is committed."""
    import venv

    venv.create(repo / "myenv", with_pip=False)
    head = git("rev-parse", "HEAD")
    with pytest.raises(ps.PsweepGitError, match=r"virtualenv myenv/ \(\d+ files\)") as exc:
        ps.run_local(func, ps.plist("a", [1]), git=True)
    assert ".gitignore" in str(exc.value)
    assert git("rev-parse", "HEAD") == head
    _nothing_staged()
    assert not (repo / "calc").exists()  # nothing ran
    (repo / ".gitignore").write_text("calc.bak*\ncalc.simulate\nmyenv/\n")
    ps.run_local(func, ps.plist("a", [1]), git=True)  # ignored: the run goes on
    assert "myenv" not in git("ls-files")


def test_check_add_refuses_a_bare_repository(tmp_path, identity):
    """A bare repository has no working tree to add from: git_check_add says so, naming it,
    instead of git's own error."""
    git("init", "-q", "--bare", str(tmp_path / "bare.git"))
    bare = gitpython.Repo(tmp_path / "bare.git")
    with pytest.raises(ps.PsweepGitError, match=r"bare\.git'? is a bare repository"):
        psweep.store.vcs.git_check_add(bare)


def test_refuses_to_commit_60_mb(repo):
    """60 MB of new files stop the run; the message names the largest and the ways out."""
    _sparse_file(repo / "big.bin", 60 * 2**20)
    (repo / "small.txt").write_text("x\n")
    head = git("rev-parse", "HEAD")
    with pytest.raises(ps.PsweepGitError) as exc:
        ps.run_local(func, ps.plist("a", [1]), git=True)
    msg = str(exc.value)
    assert "would add 60.0 MB in 2 files" in msg
    assert "The largest: big.bin (60.0 MB), small.txt (0.0 MB)" in msg
    assert "git lfs track" in msg and "dvc add" in msg and "GIT_MAX_ADD_BYTES" in msg
    assert git("rev-parse", "HEAD") == head
    _nothing_staged()
    assert not (repo / "calc").exists()


def test_large_results_are_saved_but_not_committed(repo):
    """Results over the limit: the database is saved, the commit refused, nothing staged."""

    def big(pset):
        _sparse_file(os.path.join(pset["_calc_dir"], "out.bin"), 51 * 2**20)
        return {}

    os.makedirs("calc")
    with pytest.raises(ps.PsweepGitError, match=r"calc/out.bin \(51.0 MB\)"):
        ps.run_local(big, ps.plist("a", [1]), git=True)
    assert len(ps.df_read("calc/database.pk")) == 1
    _nothing_staged()


@pytest.mark.needs_tool("git-lfs")
def test_limit_counts_lfs_files_as_pointers(repo, monkeypatch):
    """Files that git-lfs keeps do not count; the limit can be raised."""
    git("lfs", "install", "--local")
    (repo / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    _sparse_file(repo / "big.bin", 60 * 2**20)
    (repo / "text.dat").write_bytes(b"y" * 2**20)
    monkeypatch.setattr(psweep.store.vcs, "GIT_MAX_ADD_BYTES", 2**19)
    with pytest.raises(ps.PsweepGitError, match=r"would add 1.0 MB in 2 files"):
        ps.run_local(func, ps.plist("a", [1]), git=True)
    monkeypatch.setattr(psweep.store.vcs, "GIT_MAX_ADD_BYTES", 2 * 2**20)
    ps.run_local(func, ps.plist("a", [1]), git=True)
    assert "big.bin" in git("lfs", "ls-files", "-n")


def test_dvc_tracked(tmp_path):
    """calc/ counts as DVC's when a stage outputs it or calc.dvc exists, in a DVC project."""
    from psweep.store.dvctrack import dvc_tracked

    (tmp_path / "calc").mkdir()
    assert not dvc_tracked(tmp_path / "calc", tmp_path)  # no .dvc/: not a DVC project
    (tmp_path / ".dvc").mkdir()
    assert not dvc_tracked(tmp_path / "calc", tmp_path)
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  run:\n    cmd: python input.py\n"
        "    outs:\n      - calc:\n          persist: true\n"
    )
    assert dvc_tracked(tmp_path / "calc", tmp_path)
    assert not dvc_tracked(tmp_path / "other", tmp_path)
    sub = tmp_path / "sub"
    (sub / "work" / "out").mkdir(parents=True)
    (sub / "dvc.yaml").write_text("stages:\n  s:\n    cmd: x\n    wdir: work\n    outs: [out]\n")
    assert dvc_tracked(sub / "work" / "out", tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data.dvc").write_text("outs:\n- path: data\n")
    assert dvc_tracked(tmp_path / "data", tmp_path)


def test_refuses_to_start_with_merge_conflicts(repo):
    """Issue 10 case 19: unresolved conflict markers are never committed as a merge."""
    (repo / "input.py").write_text("a = 1\n")
    git("add", "input.py")
    git("commit", "-q", "-m", "base")
    git("checkout", "-q", "-b", "other")
    (repo / "input.py").write_text("a = 2\n")
    git("commit", "-q", "-am", "other")
    git("checkout", "-q", "main")
    (repo / "input.py").write_text("a = 3\n")
    git("commit", "-q", "-am", "main")
    subprocess.run(["git", "merge", "-q", "other"], capture_output=True)  # conflicts
    head = git("rev-parse", "HEAD")
    with pytest.raises(ps.PsweepGitError, match=r"unresolved merge conflicts in input\.py"):
        ps.run_local(func, ps.plist("a", [1]), git=True)
    assert git("rev-parse", "HEAD") == head
    assert not (repo / "calc").exists()


def never_called(pset):
    raise AssertionError("func ran")


@pytest.mark.parametrize("where", ["calc_dir", "database_dir"])
def test_a_folder_outside_the_repository_is_refused_before_func_runs(repo, where):
    """git=True with calc_dir (or database_dir) outside the repository: a clear error
    naming both paths before anything runs (the results were never committed, silently)."""
    outside = repo.parent / "elsewhere" / "calc"
    before = log_subjects()
    kwds = {where: str(outside)} if where == "calc_dir" else {"database_dir": "../elsewhere"}
    with pytest.raises(ps.PsweepGitError) as info:
        ps.run_local(never_called, ps.plist("a", [1]), git=True, **kwds)
    text = str(info.value)
    assert f"{where} " in text and str(repo) in text and "is outside it" in text
    assert str(outside if where == "calc_dir" else repo.parent / "elsewhere") in text
    assert log_subjects() == before and not (repo.parent / "elsewhere").exists()
    assert not (repo / "calc").exists()


def test_a_calc_dir_inside_the_repository_by_a_symlinked_path_is_fine(repo, tmp_path):
    """calc_dir given through a symlink that points into the repository is inside it."""
    os.symlink(repo, tmp_path / "link")
    df = ps.run_local(func, ps.plist("a", [1]), git=True, calc_dir=str(tmp_path / "link/calc"))
    assert log_subjects()[0] == f"psweep: my study: run_id={df['_run_id'].iloc[0]}"
    assert "calc/database.pk" in git("ls-files")
