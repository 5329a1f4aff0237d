"""Run psets as tasks on a dask cluster: here a LocalCluster of 2 processes.

Run it with ``python dask_local_cluster.py`` (needs ``pip install
"psweep-kit[dask]"``). On an HPC system, replace the LocalCluster with e.g.
``dask_jobqueue.SLURMCluster(...)`` and ``cluster.scale(jobs=...)``: the
call to ``run_local`` stays the same.
"""

import os

from dask.distributed import Client, LocalCluster

import psweep as ps


def func(pset):
    """A small workload; the worker's process id shows where it ran."""
    return {"y": pset["a"] ** 2, "pid": os.getpid()}


if __name__ == "__main__":
    params = ps.plist("a", range(20))
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    with cluster, Client(cluster) as client:
        df = ps.run_local(func, params, dask_client=client)
    print(f"{len(df)} psets ran in {df.pid.nunique()} worker process(es)")
    ps.df_print(df.head(), cols=["a", "y"])
