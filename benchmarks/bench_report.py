"""Time ``ps.report`` on large databases, against reading the database alone.

The databases have the real layout: a small study is run with ``run_local``
(``on_error="record"``, 2,000 psets over ``a`` x ``b`` x ``solver``, one in 40
failing) and its rows are repeated, as 50 runs with new ids, up to ``--rows``
rows. Two kinds:

- ``grid``: the 2,000 psets repeated (``--rows / 2000`` rows per pset), so the
  report aggregates many rows into few combinations;
- ``distinct``: every row a pset of its own (``a`` shifted a little per copy),
  the worst case: a million combinations, drawn as a sample of points.

Each case is timed in-process, the median of ``--repeat`` runs of
``ps.df_read`` (the reference: what any look at the database costs) and of
``psweep.observe.reporting.report`` (which reads the database too), so ``ratio`` is the
report's cost in units of one read. ``MB`` is the size of the HTML file.
Goals for 1,000,000 rows: under 30 s and 20 MB.

    python benchmarks/bench_report.py                  # 1,000,000 rows, 3 repeats
    python benchmarks/bench_report.py --rows 100000 --repeat 5
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

try:
    import _common as common
except ImportError:  # python -m benchmarks.bench_report
    from benchmarks import _common as common

sys.path.insert(0, str(common.REPO_ROOT))
import psweep as ps
from psweep.observe.reporting import report

N_RUNS = 50
GOAL_S, GOAL_MB = 30.0, 20.0


def func(pset):
    if pset["solver"] == "fast" and pset["a"] > 0.95:
        raise ArithmeticError(f"no convergence for a={pset['a']}")
    return {"energy": np.sin(pset["a"] * pset["b"]), "steps": pset["b"] * 3, "res_": 1.0}


def base_study(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows and runs table of a small real study."""
    params = ps.pgrid(
        ps.plist("a", list(np.linspace(0, 1, 100))),
        ps.plist("b", list(range(1, 11))),
        ps.plist("solver", ["fast", "exact"]),
    )
    calc = folder / "base"
    df = ps.run_local(func, params, calc_dir=str(calc), on_error="record")
    return df, ps.df_runs(str(calc))


def build(folder: Path, kind: str, nrows: int, base: pd.DataFrame, runs: pd.DataFrame) -> Path:
    """calc_dir with `nrows` rows of `base`, in N_RUNS runs; return calc_dir."""
    reps = -(-nrows // len(base))
    df = pd.concat([base] * reps, ignore_index=True).iloc[:nrows].copy()
    copy = np.arange(nrows) // len(base)
    run = copy * N_RUNS // reps
    run_ids = [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(N_RUNS)]
    df["_run_id"] = np.asarray(run_ids, dtype=object)[run]
    df["_run_seq"] = run
    df["_pset_seq"] = np.arange(nrows)
    df["_pset_id"] = [f"{i:08x}-1111-4000-8000-{i:012x}" for i in range(nrows)]
    noise = np.random.default_rng(0).normal(0, 0.01, nrows)
    df["energy"] = df["energy"] + noise
    if kind == "distinct":
        df["a"] = df["a"] + copy * 1e-7
    df = df.set_index("_pset_id", drop=False).rename_axis(None)
    calc = folder / f"{kind}_{nrows}"
    calc.mkdir()
    ps.df_write(df, str(calc / "database.pk"))
    big_runs = pd.concat([runs] * N_RUNS, ignore_index=True)
    big_runs["_run_id"] = run_ids
    big_runs["n_psets"] = np.bincount(run, minlength=N_RUNS)
    ps.df_write(big_runs, str(calc / "runs.pk"))
    return calc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kinds", default="grid,distinct")
    args = parser.parse_args(argv)
    logging.getLogger("psweep").setLevel(logging.ERROR)  # the base study's failures are meant
    rows_out, ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base, runs = base_study(tmp)
        for kind in args.kinds.split(","):
            calc = build(tmp, kind, args.rows, base, runs)
            out = tmp / f"{kind}.html"
            db = str(calc / "database.pk")
            read_s = common.median_time(lambda db=db: ps.df_read(db), args.repeat)
            report_s = common.median_time(lambda c=calc, o=out: report(c, o), args.repeat)
            mb = os.path.getsize(out) / 1e6
            passed = report_s < GOAL_S and mb < GOAL_MB
            ok &= passed
            rows_out.append(
                [
                    kind,
                    f"{args.rows:,}",
                    f"{read_s:.2f}",
                    f"{report_s:.2f}",
                    f"{report_s / read_s:.1f}",
                    f"{mb:.2f}",
                    "yes" if passed else "no",
                ]
            )
    headers = ["case", "rows", "read s", "report s", "ratio", "MB", f"<{GOAL_S:.0f} s, <20 MB"]
    print(common.render_table(headers, rows_out))
    print(f"medians of {args.repeat}; python {sys.version.split()[0]}, pandas {pd.__version__}")
    return 0 if ok else 2


if __name__ == "__main__":
    raise SystemExit(main())
