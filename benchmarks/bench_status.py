"""How fast `psweep status` answers on a large study, and what `--watch` costs a run.

Cases, each timed in this process (median of --repeat):

- ``status_1M_running``: a database of 1M rows (made by ``run_local``) plus a
  run that goes on in another process while ``ps.status`` is asked;
- ``status_1M_crashed_journal``: the same database plus the unmerged journal of
  a killed run of 1M psets (the largest journal a run of that size leaves);
- reference ``df_read_1M``: reading the database once, which is what a status
  that looked at the database would cost at least (upstream psweep has no
  status: reading the database is how its users look).

Then ``watch_overhead``: the wall time of a serial run of psets of 2 ms with
``psweep status --watch 1`` running beside it, over the same run without it
(median of --repeat pairs, run alternately). Machines are shared and noisy:
read ratios and medians.

    python benchmarks/bench_status.py
    python benchmarks/bench_status.py --rows 200000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median_time

import psweep as ps

RUNNER = textwrap.dedent(
    """
    import sys, time
    import psweep as ps

    def func(pset):
        if pset["sleep"]:
            time.sleep(pset["sleep"])
        return {"r": pset["a"] * 2.0}

    if __name__ == "__main__":
        n, sleep, calc = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
        ps.run_local(func, ps.pgrid(ps.plist("a", range(n)), ps.plist("sleep", [sleep])),
                     calc_dir=calc, progress=False)
    """
)


def _run(work: Path, n: int, sleep: float, calc: str, env: dict | None = None):
    return subprocess.Popen(
        [sys.executable, str(work / "runner.py"), str(n), str(sleep), calc],
        cwd=work,
        env={**os.environ, **(env or {})},
        stderr=subprocess.DEVNULL,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--watch-psets", type=int, default=1500)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "runner.py").write_text(RUNNER)
        env = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        print(f"making a database of {args.rows} rows ...", flush=True)
        _run(work, args.rows, 0.0, "calc", env).wait()
        calc = str(work / "calc")
        t_read = median_time(lambda: ps.df_read(os.path.join(calc, "database.pk")), 3)

        # a run that goes on beside the measurements (psets of 1 ms)
        proc = _run(work, 100_000, 0.001, "calc", env)
        while not any(r["state"] == "running" for r in ps.status(calc)["runs"]):
            time.sleep(0.1)
        time.sleep(1.0)
        t_running = median_time(lambda: ps.status(calc), args.repeat)
        live = next(r for r in ps.status(calc)["runs"] if r["state"] == "running")
        proc.send_signal(signal.SIGINT)
        proc.wait()
        rows.append(
            (
                f"status, {args.rows:,} rows + running run",
                t_running,
                f"{live['n_done']} journaled rows",
            )
        )

        # the journal of a killed run of as many psets as the database has rows
        crash = _run(work, args.rows, 0.0, "calc", {**env, "PSWEEP_CRASH_AT": "executed"})
        crash.wait()
        crashed = next(r for r in ps.status(calc)["runs"] if r["state"] == "crashed")
        t_crashed = median_time(lambda: ps.status(calc), args.repeat)
        rows.append(
            (
                f"status, {args.rows:,} rows + crashed journal",
                t_crashed,
                f"{crashed['n_done']} rows",
            )
        )
        rows.append(
            (f"df_read of the {args.rows:,} rows (reference)", t_read, "read the database once")
        )

        # --watch 1 beside a serial run: does it slow the run down?
        def timed_run(watch: bool) -> float:
            sub = f"w{time.monotonic_ns()}"
            watcher = None
            if watch:
                os.makedirs(work / sub)
                watcher = subprocess.Popen(
                    [sys.executable, "-m", "psweep", "status", sub, "--watch", "1"],
                    cwd=work,
                    env={**os.environ, **env},
                    stdout=subprocess.DEVNULL,
                )
                time.sleep(1.5)  # the watcher is up and polling
            t0 = time.perf_counter()
            _run(work, args.watch_psets, 0.002, sub, env).wait()
            took = time.perf_counter() - t0
            if watcher is not None:
                watcher.send_signal(signal.SIGINT)
                watcher.wait()
            return took

        pairs = [(timed_run(False), timed_run(True)) for _ in range(args.repeat)]
        base = statistics.median(p[0] for p in pairs)
        with_watch = statistics.median(p[1] for p in pairs)
    print()
    print("| case | seconds (median) | note |")
    print("|:-----|-----------------:|:-----|")
    for name, secs, note in rows:
        print(f"| {name} | {secs:.3f} | {note} |")
    print(f"| run without watch | {base:.2f} | {args.watch_psets} psets of 2 ms, serial |")
    print(f"| run with --watch 1 | {with_watch:.2f} | ratio {with_watch / base:.3f} |")
    print()
    print(
        f"status on {args.rows} rows: running {t_running:.3f} s, crashed journal "
        f"{t_crashed:.3f} s (target <= 1 s); df_read alone {t_read:.2f} s; "
        f"--watch 1 slows the run by a factor {with_watch / base:.3f} (target <= 1.05)"
    )
    ok = max(t_running, t_crashed) <= 1.0 and with_watch / base <= 1.05
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
