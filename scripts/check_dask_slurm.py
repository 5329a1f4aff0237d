"""Smoke test: dask-jobqueue starts dask workers as jobs on the local SLURM cluster.

Needs ``pip install dask-jobqueue`` and a running cluster
(``bash scripts/slurm-local.sh start``). Prints the job script, the results and
the timings; exits non-zero on failure.

    python scripts/check_dask_slurm.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import dask
from dask.distributed import Client
from dask_jobqueue import SLURMCluster

N_JOBS = 2


def inc(x: int) -> int:
    return x + 1


def main() -> int:
    with (
        tempfile.TemporaryDirectory(prefix="psweep-dask-slurm-") as tmp,
        # The scheduler's scratch space, else dask-scratch-space/ in the system tmp.
        dask.config.set({"temporary-directory": tmp}),
    ):
        tmp_dir = Path(tmp)
        t0 = time.monotonic()
        cluster = SLURMCluster(
            cores=1,
            processes=1,
            memory="1GB",
            walltime="00:10:00",
            queue="debug",
            python=sys.executable,
            # The scheduler listens on loopback; workers run on the same machine.
            scheduler_options={"host": "127.0.0.1"},
            interface="lo",
            local_directory=str(tmp_dir / "dask-worker-space"),
            log_directory=str(tmp_dir / "logs"),
        )
        try:
            print(cluster.job_script())
            cluster.scale(jobs=N_JOBS)
            with Client(cluster) as client:
                client.wait_for_workers(N_JOBS, timeout=120)
                t_workers = time.monotonic() - t0
                futures = client.map(inc, range(10))
                results = client.gather(futures)
                print(f"results: {results}")
                print(f"{N_JOBS} workers up after {t_workers:.1f} s")
                if results != list(range(1, 11)):
                    print("wrong results", file=sys.stderr)
                    return 1
        finally:
            cluster.close()
        print(f"done after {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
