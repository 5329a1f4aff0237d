"""run_local on a real dask.distributed LocalCluster with worker processes."""

from __future__ import annotations

import contextlib

import pytest

import psweep as ps

distributed = pytest.importorskip("distributed")


def func(pset):
    return {"r": pset["a"] * 2}


def fail_odd(pset):
    if pset["a"] % 2:
        raise ValueError(f"odd a={pset['a']}")
    return {"r": pset["a"] * 2}


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_same_rows_as_serial(study, client):
    """It gives the same rows on a dask cluster as in a serial run."""
    params = ps.plist("a", range(300))
    serial = ps.run_local(func, params, calc_dir="serial")
    on_dask = ps.run_local(func, params, calc_dir="dask", dask_client=client)
    cols = ["a", "r", "_pset_seq", "_run_seq", "_pset_sha1"]
    assert serial[cols].reset_index(drop=True).equals(on_dask[cols].reset_index(drop=True))
    assert ps.df_read("dask/database.pk").equals(on_dask)
    assert not any((study / "dask/.psweep/journal").iterdir())


def test_lambda_runs_on_dask(study, client):
    """It sends closures and lambdas to dask workers (cloudpickle)."""
    offset = 5
    df = ps.run_local(lambda p: {"r": p["a"] + offset}, ps.plist("a", [1, 2]), dask_client=client)
    assert df["r"].tolist() == [6, 7]


def test_record_and_resume(study, client):
    """It records failures on dask and reruns only them with skip_dups."""
    df = ps.run_local(fail_odd, ps.plist("a", range(10)), on_error="record", dask_client=client)
    assert (df["_pset_status"] == "failed").sum() == 5
    df = ps.run_local(func, ps.plist("a", range(10)), skip_dups=True, dask_client=client)
    assert len(df) == 15
    assert sorted(df.loc[df["_pset_status"] == "ok", "a"]) == list(range(10))


def test_raise_keeps_finished_rows(study, client):
    """It propagates func's exception from a worker and keeps the rows that arrived.
    Two psets fail (a=1 and a=3, on workers of their own): whichever fails first
    stops the run."""
    with pytest.raises(ValueError, match=r"odd a=[13]"):
        ps.run_local(fail_odd, ps.plist("a", range(4)), dask_client=client)
    runs = ps.df_runs()
    assert runs["status"].tolist() == ["failed"]
    if (study / "calc/database.pk").exists():
        df = ps.df_read("calc/database.pk")
        assert set(df["a"]) <= {0, 2}


def die_at_three(pset):
    if pset["a"] == 3:
        import os

        os._exit(3)  # as a segfault in compiled code would end the worker
    return {"r": pset["a"] * 2}


def sleep_at_three(pset):
    import time

    if pset["a"] == 3:
        time.sleep(600)  # a C call: no exception can stop it in a worker thread
    return {"r": pset["a"] * 2}


@contextlib.contextmanager
def _fragile_client(lost_worker_timeout: str):
    """Workers with nannies that restart them; the scheduler gives up on a task at once;
    the cluster gives a nanny up when its worker stays away `lost_worker_timeout`."""
    import dask

    config = {
        "distributed.scheduler.allowed-failures": 0,
        "distributed.deploy.lost-worker-timeout": lost_worker_timeout,
    }
    with dask.config.set(config):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        with distributed.Client(cluster) as client:
            yield client
        cluster.close()


@pytest.fixture(scope="module")
def fragile_client():
    # a restarted worker may take long to rejoin on a loaded machine: the cluster
    # must not give its nanny up meanwhile (LocalCluster's default is 15 s)
    with _fragile_client("300s") as client:
        yield client


def test_worker_death_names_the_pset(study, fragile_client):
    """Case 20: a dask worker that dies gives an error naming its pset; the others are saved."""
    params = ps.plist("a", range(40))  # tasks of 2 or 3 psets: the dead one is split
    with pytest.raises(ps.PsweepWorkerError, match=r"dask worker died.*'a': 3"):
        ps.run_local(die_at_three, params, dask_client=fragile_client)
    df = ps.df_read("calc/database.pk")
    assert 3 not in set(df["a"])
    df = ps.run_local(die_at_three, params, dask_client=fragile_client, on_error="record")
    last = df[df["_run_id"] == df["_run_id"].iloc[-1]].sort_values("a")
    assert list(last["a"]) == list(range(40))
    failed = last[last["_pset_status"] == "failed"]
    assert list(failed["a"]) == [3]
    assert "PsweepWorkerError" in failed["_exc"].iloc[0]
    assert list(last.loc[last["a"] != 3, "r"]) == [2 * a for a in range(40) if a != 3]


def _run_with_one_overrun(client):
    """Psets a=0..5 with timeout_s=1 s, where a=3 sleeps 600 s; the run must not wait."""
    import time

    t0 = time.monotonic()
    df = ps.run_local(
        sleep_at_three,
        ps.plist("a", range(6)),
        dask_client=client,
        on_error="record",
        timeout_s=1.0,
    )
    assert time.monotonic() - t0 < 60
    return df


def test_timeout_on_dask(study, fragile_client):
    """timeout_s under dask: the overrunning pset is failed, the worker restarted, others kept."""
    df = _run_with_one_overrun(fragile_client)
    failed = df[df["_pset_status"] == "failed"]
    assert list(failed["a"]) == [3]
    assert "timeout_s=1.0" in failed["_exc"].iloc[0]
    assert failed["_exc"].iloc[0].endswith("its dask worker restarted")
    assert sorted(df.loc[df["_pset_status"] == "ok", "a"]) == [0, 1, 2, 4, 5]
    # the cluster works on after the restart, and the restarted worker is back
    df = ps.run_local(func, ps.plist("a", [10]), dask_client=fragile_client, calc_dir="calc2")
    assert df["r"].tolist() == [20]
    fragile_client.wait_for_workers(2, timeout=240)


def test_timeout_on_dask_does_not_wait_for_the_restart(study):
    """A restarted worker that never rejoins (its LocalCluster gives its nanny up at
    once) does not hold the run up: the others finish the psets."""
    with _fragile_client("0s") as client:
        df = _run_with_one_overrun(client)
        assert df.set_index("a")["_pset_status"].to_dict() == {
            0: "ok",
            1: "ok",
            2: "ok",
            3: "failed",
            4: "ok",
            5: "ok",
        }
        df = ps.run_local(func, ps.plist("a", [10]), dask_client=client, calc_dir="calc2")
        assert df["r"].tolist() == [20]


def test_timeout_on_dask_without_nanny_keeps_the_worker(study, caplog):
    """In-process workers (processes=False) have no nanny: the worker is not removed
    (the cluster would be left without one); a warning says the pset may still run."""
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        df = _run_with_one_overrun(client)
        assert df.set_index("a")["_pset_status"].to_dict()[3] == "failed"
        assert "which has no nanny" in df.set_index("a").loc[3, "_exc"]
        assert "has no nanny" in caplog.text
        assert len(client.scheduler_info()["workers"]) == 1
        df = ps.run_local(func, ps.plist("a", [10]), dask_client=client, calc_dir="calc2")
        assert df["r"].tolist() == [20]


@contextlib.contextmanager
def _busy_machine(nprocs: int = 4):
    """`nprocs` processes that spin (load average ~`nprocs` on top of what runs)."""
    import subprocess
    import sys

    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(nprocs)]
    try:
        yield
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(90)
def test_worker_death_on_a_loaded_machine_is_never_stuck(study):
    """Case 20 under load: a pset that kills its dask worker ends the run with an error
    naming it, in bounded time, although each restarted worker rejoins too late and
    its LocalCluster closes it (lost-worker-timeout, here 0 s; 15 s by default, which
    a loaded machine exceeds as well): psweep starts the cluster's closed workers again
    instead of waiting for ever on a cluster without workers."""
    import time

    with _busy_machine(4), _fragile_client("0s") as client:
        t0 = time.monotonic()
        with pytest.raises(ps.PsweepWorkerError, match=r"dask worker died.*'a': 3"):
            ps.run_local(die_at_three, ps.plist("a", range(12)), dask_client=client)
        assert time.monotonic() - t0 < 80
    df = ps.df_read("calc/database.pk")
    assert set(df["a"]) <= set(range(12)) - {3}


def slow(pset):
    import time

    time.sleep(0.2)
    return {"r": pset["a"]}


@pytest.mark.timeout(60)
def test_a_cluster_without_workers_for_good_ends_the_run(study, monkeypatch):
    """A LocalCluster scaled to no workers during a run (none will ever come) ends the
    run with an error after psweep.lifecycle.execute.dask._NO_WORKER_S, instead of waiting for
    ever."""
    import threading

    from psweep.lifecycle.execute import dask as dask_backend

    monkeypatch.setattr(dask_backend, "_NO_WORKER_S", 2.0)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        threading.Timer(1.0, cluster.scale, (0,)).start()
        with pytest.raises(ps.PsweepWorkerError, match="has had no worker for"):
            ps.run_local(slow, ps.plist("a", range(100)), dask_client=client)
    assert ps.df_runs()["status"].tolist() == ["failed"]
