"""Run the psets of a study in parallel processes.

Workflow: ``ps.run_local(func, params, poolsize=2)`` calls ``func`` in a pool
of two worker processes (``multiprocessing.Pool``). The database is the same
as from a serial run: one row per pset, in the order of params.

Two things are required for process pools: ``func`` must be defined at module
level (so it can be pickled and sent to the workers), and the code that
starts the run must sit under ``if __name__ == "__main__":`` (so that workers
which import this file do not start the study again).

Run it in any directory (it writes ``calc/`` there)::

    python vary_1_param_parallel.py
"""

import os
import time

import psweep as ps


def func(pset: dict) -> dict:
    time.sleep(0.05)  # stand-in for real work
    return {"result": pset["a"] ** 3, "pid": os.getpid()}


if __name__ == "__main__":
    params = ps.plist("a", [1, 2, 3, 4, 5, 6])
    df = ps.run_local(func, params, poolsize=2)
    ps.df_print(df)
    print(f"\n{len(df)} psets computed by {df.pid.nunique()} worker process(es)")
