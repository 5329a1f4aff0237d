"""Per-pset overhead of ``psweep.run_local`` for trivial psets, ours vs upstream.

What it measures: the wall time of one ``run_local(func, params,
calc_dir=<tmp>/calc, save=True, poolsize=...)`` call over ``N`` psets
``{"a": i}`` whose ``func`` just returns ``{"r": pset["a"]}``, divided by ``N``
(microseconds per pset). That is the bookkeeping cost psweep adds around each
``func`` call (ids, hashes, DataFrame building, saving the database).

Each measurement runs in a fresh child process executing a small generated
script from a temporary directory, timed with ``time.perf_counter`` around the
``run_local`` call only (imports and interpreter start-up are excluded):

* ours: the current interpreter with the repository root on ``PYTHONPATH``;
* upstream: psweep 0.16.0 in ``benchmarks/.venv-upstream`` (created on first
  use), run with ``python -I`` so it cannot import this repository. Upstream
  renamed ``run_local`` to ``run``; the script calls whichever exists.

Run from anywhere::

    python benchmarks/bench_overhead.py [--n 10000] [--repeat 3]
        [--cases serial,pool2] [--no-upstream]

It prints a table of medians over ``--repeat`` runs (ratio < 1: ours is
faster) and writes the raw figures to ``benchmarks/results/overhead.json``.
Add a case by adding an entry to ``CASES``.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

try:
    import _common as common
except ImportError:  # python -m benchmarks.bench_overhead
    from benchmarks import _common as common


@dataclass(frozen=True)
class Case:
    """Parameters of one measurement snippet."""

    poolsize: int | None = None  # None: serial loop, else multiprocessing.Pool
    sleep: float = 0.0  # seconds func sleeps per pset (0: trivial pset)
    n: int | None = None  # number of psets; None: take --n


CASES: dict[str, Case] = {
    "serial": Case(),
    "pool2": Case(poolsize=2),
    # not run by default; select with --cases
    "serial_50k": Case(n=50_000),
    "pool2_sleep20ms": Case(poolsize=2, sleep=0.02, n=200),  # ideal: 10000 us
}
DEFAULT_CASES = "serial,pool2"

# func must live at module level (picklable for poolsize), hence a real file
SNIPPET = string.Template("""\
import json
import sys
import time

import pandas
import psweep as ps

SLEEP = $sleep


def func(pset):
    if SLEEP:
        time.sleep(SLEEP)
    return {"r": pset["a"]}


if __name__ == "__main__":
    # psweep 0.7.0 API is run_local(); upstream later renamed it to run()
    run = getattr(ps, "run_local", None) or getattr(ps, "run", None)
    if run is None:
        where = ps.__file__ or list(ps.__path__)
        sys.exit(f"psweep from {where} has neither run_local() nor run()")
    params = [{"a": i} for i in range($n)]
    t0 = time.perf_counter()
    df = run(func, params, calc_dir=$calc_dir, save=True, poolsize=$poolsize)
    wall = time.perf_counter() - t0
    assert len(df) == $n, f"expected $n rows, got {len(df)}"
    info = {
        "wall": wall,
        "n": $n,
        "psweep_file": ps.__file__,
        "psweep_version": getattr(ps, "__version__", "?"),
        "python": sys.version.split()[0],
        "pandas": pandas.__version__,
    }
    print(json.dumps(info))
""")


def measure(target: common.Target, case: Case, n: int, timeout: float) -> dict[str, Any]:
    """One fresh child process: run the snippet, return its JSON line."""
    with tempfile.TemporaryDirectory(prefix="psweep-bench-") as tmp:
        tmpdir = Path(tmp)
        script = tmpdir / "bench_snippet.py"
        script.write_text(
            SNIPPET.substitute(
                n=n,
                sleep=repr(case.sleep),
                poolsize=repr(case.poolsize),
                calc_dir=repr(str(tmpdir / "calc")),
            )
        )
        # also checks that each side imported the right psweep
        return common.run_json_child(target, [str(script)], cwd=tmpdir, timeout=timeout)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="psets per run")
    p.add_argument("--repeat", type=int, default=3, help="runs per side and case")
    p.add_argument(
        "--cases",
        default=DEFAULT_CASES,
        help=f"comma-separated, from: {', '.join(CASES)} (default: %(default)s)",
    )
    p.add_argument("--no-upstream", action="store_true", help="skip the reference")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per child")
    args = p.parse_args(argv)
    args.cases = common.selected_cases(p, args.cases, list(CASES))
    if args.n < 1 or args.repeat < 1:
        p.error("--n and --repeat must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    targets = [common.ours_target()]
    if args.no_upstream:
        print("--no-upstream: reference column is n/a", file=sys.stderr)
    else:
        upstream = common.ensure_upstream_venv(log=lambda msg: print(msg, file=sys.stderr))
        if upstream is not None:
            targets.append(upstream)

    versions: dict[str, dict[str, str]] = {}
    results: list[dict[str, Any]] = []
    for name in args.cases:
        case = CASES[name]
        n = case.n or args.n
        walls: dict[str, list[float]] = {"ours": [], "upstream": []}
        errors: dict[str, str] = {}
        for rep in range(args.repeat):  # interleave sides to spread drift
            for target in targets:
                if target.label in errors:
                    continue
                try:
                    info = measure(target, case, n, args.timeout)
                except common.BenchError as exc:
                    errors[target.label] = str(exc)
                    print(f"[{name}] {exc}", file=sys.stderr)
                    continue
                walls[target.label].append(info["wall"])
                versions[target.label] = {
                    k: info[k] for k in ("python", "pandas", "psweep_version")
                }
                us = info["wall"] / n * 1e6
                print(
                    f"[{name}] {target.label} {rep + 1}/{args.repeat}: {us:.1f} us/pset",
                    file=sys.stderr,
                )
        med = {k: common.median_or_none(v) for k, v in walls.items()}
        us_pset = {k: None if v is None else v / n * 1e6 for k, v in med.items()}
        ours, ref = us_pset["ours"], us_pset["upstream"]
        results.append(
            {
                "case": name,
                **asdict(case),
                "n": n,
                "walls_s": walls,
                "median_us_per_pset": us_pset,
                "ratio_ours_upstream": ours / ref if ours and ref else None,
                "errors": errors,
            }
        )

    headers = ["case", "N", "ours us/pset", "upstream us/pset", "ours/upstream"]
    rows = [
        [
            r["case"],
            str(r["n"]),
            common.fmt(r["median_us_per_pset"]["ours"]),
            common.fmt(r["median_us_per_pset"]["upstream"]),
            common.fmt(r["ratio_ours_upstream"], ".2f"),
        ]
        for r in results
    ]
    print(common.render_table(headers, rows))
    footer = "; ".join(
        f"{side}: python {v['python']}, pandas {v['pandas']}, psweep {v['psweep_version']}"
        for side, v in versions.items()
    )
    print(f"median of {args.repeat}; {footer or 'no successful measurement'}")

    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = common.RESULTS_DIR / "overhead.json"
    payload = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv[1:] if argv is None else argv,
        "repeat": args.repeat,
        "versions": versions,
        "cases": results,
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"raw figures: {out}", file=sys.stderr)
    return 0 if all(r["median_us_per_pset"]["ours"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
