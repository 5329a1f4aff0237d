"""Pool workers that die or overrun (issue 10, case 9, and timeout_s): no hang, the pset
is named or recorded as failed, every other pset is kept exactly once."""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import time

import pytest

import psweep as ps
from psweep.host import pid_alive


def dies_at_5(pset):
    if pset["a"] == 5:
        os._exit(3)
    return {"r": pset["a"]}


def segfaults_at_5(pset):
    if pset["a"] == 5:
        faulthandler.disable()  # no dump of the expected crash in the test log
        ctypes.string_at(0)  # SIGSEGV in C
    return {"r": pset["a"]}


def sleeps_at_2(pset):
    if pset["a"] == 2:
        time.sleep(30)
    return {"r": pset["a"]}


def stuck_at_2(pset):
    if pset["a"] == 2:  # deaf to the alarm, as C code that holds on would be
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(30)
    return {"r": pset["a"]}


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("func", [dies_at_5, segfaults_at_5], ids=["os._exit", "segfault"])
def test_dead_worker_is_recorded(study, func):
    t0 = time.monotonic()
    df = ps.run_local(func, ps.plist("a", range(12)), poolsize=2, on_error="record")
    assert time.monotonic() - t0 < 30
    assert sorted(df["a"]) == list(range(12)) and df.index.is_unique
    failed = df[df["_pset_status"] == "failed"]
    assert failed["a"].tolist() == [5]
    assert "PsweepWorkerError: the worker process" in failed["_exc"].iloc[0]
    assert (df.loc[df["a"] != 5, "r"] == df.loc[df["a"] != 5, "a"]).all()
    assert df["_pset_seq"].tolist() == sorted(df["_pset_seq"])


def test_dead_worker_warning_names_the_failed_rows_id(study, caplog):
    """The warning about a pset whose worker died names the id its failed row gets."""
    df = ps.run_local(dies_at_5, ps.plist("a", range(12)), poolsize=2, on_error="record")
    (pset_id,) = df.index[df["_pset_status"] == "failed"]
    warned = [r.getMessage() for r in caplog.records if "died while it ran" in r.getMessage()]
    assert warned and f"_pset_id={pset_id})" in warned[0], warned  # then the run's summary


def test_dead_worker_error_names_the_pset(study):
    with pytest.raises(ps.PsweepWorkerError, match=r"died while it ran this pset.*'a': 5") as err:
        ps.run_local(dies_at_5, ps.plist("a", range(12)), poolsize=2)
    assert "_pset_id" not in str(err.value)  # no row was made, so it has no id to name
    df = ps.df_read("calc/database.pk")  # what finished is saved
    assert 5 not in set(df["a"]) and df["a"].is_unique
    assert ps.df_runs("calc")["status"].tolist() == ["failed"]
    df = ps.run_local(dies_at_5, ps.plist("a", range(12)), poolsize=2, skip_dups=True,
                      on_error="record")  # fmt: skip
    assert sorted(df["a"]) == list(range(12))


@pytest.mark.parametrize("func", [sleeps_at_2, stuck_at_2], ids=["alarm", "killed"])
def test_timeout_records_the_pset(study, func):
    t0 = time.monotonic()
    df = ps.run_local(func, ps.plist("a", range(6)), poolsize=2, timeout_s=0.5, on_error="record")
    assert time.monotonic() - t0 < 20
    assert sorted(df["a"]) == list(range(6))
    failed = df[df["_pset_status"] == "failed"]
    assert failed["a"].tolist() == [2]
    assert "PsweepTimeout" in failed["_exc"].iloc[0]
    assert "timeout_s=0.5" in failed["_exc"].iloc[0]


def test_timeout_needs_a_pool(study):
    with pytest.raises(ps.PsweepParamsError, match="timeout_s=1 needs poolsize"):
        ps.run_local(sleeps_at_2, ps.plist("a", [1]), timeout_s=1)
    with pytest.raises(ps.PsweepParamsError, match="timeout_s must be"):
        ps.run_local(sleeps_at_2, ps.plist("a", [1]), poolsize=2, timeout_s=-1)


STUCK_POOL = """
import multiprocessing, signal, time
from psweep.lifecycle.execute import pool as pool_backend
def stuck(_):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as a worker that lost the signal
    time.sleep(600)

class NoneBusy:
    def busy(self):
        return []

if __name__ == "__main__":
    pool_backend._TERMINATE_S = 1.0  # how long terminate() may take before workers are killed
    pool = multiprocessing.get_context("fork").Pool(1)
    pool.apply_async(stuck, (0,))
    time.sleep(0.5)
    t0 = time.monotonic()
    pool_backend._stop_pool(pool, NoneBusy())
    print(f"ended after {time.monotonic() - t0:.1f} s")
"""


def test_a_pool_worker_that_misses_sigterm_is_killed(study):
    """Ending a pool sends SIGTERM to its workers and waits; a worker that does not end
    on it (a freshly forked one can lose the signal: seen as a hang in CI) is killed
    after a few seconds, so a stopping run ends instead of waiting for ever."""
    import subprocess
    import sys

    (study / "stuck.py").write_text(STUCK_POOL)
    out = subprocess.run([sys.executable, "stuck.py"], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("ended after"), out.stderr
    assert float(out.stdout.split()[2]) < 30


def square(x):
    return x * x


def with_own_pools(pset):
    """func as a user writes it: a process pool of its own, of either kind."""
    import concurrent.futures
    import multiprocessing

    with multiprocessing.Pool(2) as pool:
        squares = pool.map(square, range(pset["a"]))
    with concurrent.futures.ProcessPoolExecutor(2) as ex:
        more = list(ex.map(square, range(pset["a"])))
    return {"r": sum(squares), "r2": sum(more)}


@pytest.mark.parametrize("poolsize", [None, 2])
def test_func_may_start_its_own_process_pool(study, poolsize):
    """A func that starts a multiprocessing.Pool or a ProcessPoolExecutor runs in a pool as
    serially (pool workers were daemonic: "daemonic processes are not allowed to have
    children")."""
    df = ps.run_local(with_own_pools, ps.plist("a", [3, 4, 5]), poolsize=poolsize)
    expect = [sum(x * x for x in range(a)) for a in (3, 4, 5)]
    assert df["r"].tolist() == df["r2"].tolist() == expect


def hang_forever(path):
    with open(path, "w") as fh:
        fh.write(str(os.getpid()))
    while True:
        time.sleep(1)


def stuck_in_own_pool(pset):
    """func whose own pool's task never ends, deaf to the alarm: its worker is killed."""
    import multiprocessing

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    with multiprocessing.Pool(1) as pool:
        pool.apply(hang_forever, (f"grandchild-{pset['a']}.pid",))
    return {}


def test_processes_of_a_killed_worker_die_with_it(study):
    """A worker killed for its timeout takes the processes that func started along: none
    is left running, with the study's files open, after the run."""
    df = ps.run_local(
        stuck_in_own_pool, ps.plist("a", [1]), poolsize=1, timeout_s=0.5, on_error="record"
    )
    assert df["_pset_status"].tolist() == ["failed"]
    pid = int((study / "grandchild-1.pid").read_text())
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = pid_alive(pid)
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"process {pid} that func started outlived its killed worker"
