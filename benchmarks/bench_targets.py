"""Check ``psweep.run_local`` against its performance targets, with upstream as reference.

Targets (number: what is measured [goal]):

1. serial overhead per trivial pset, N=50,000: ours/upstream us/pset [<= 0.333]
2. poolsize=2, trivial psets, N=50,000: our pool wall / our serial wall [<= 1.1];
   an extra "info" row shows upstream's pool/serial ratio
3. poolsize=2, 200 psets sleeping 20 ms: efficiency 200*0.02 / (2*wall) [>= 0.90]
4. N=1,000,000 (``--big-n``) trivial psets serially, whole call [<= 30 s] and the
   child's peak RSS [<= 2 GiB]; reference: upstream's N=50,000 wall scaled to N
5. ``df_read`` of that database [<= 2 s]
6. ``skip_dups=True`` planning against it with the same params, nothing runs [<= 3 s]
7. dask ``LocalCluster`` with 2 worker processes, N=20,000 after a 200-pset
   warm-up: psets per second [>= 1000]

A trivial pset is ``{"a": i}`` and ``func`` returns ``{"r": pset["a"]}``; all runs
use ``save=True`` into a temporary ``calc_dir``. Each measurement is a fresh child
process running a generated script that times the call with ``time.perf_counter``
and prints one JSON line. Ours: this interpreter, repository root on
``PYTHONPATH``. Upstream: psweep 0.16.0 in ``benchmarks/.venv-upstream`` run with
``python -I`` (see ``bench_overhead.py``). The database of target 4 (last repeat)
is reused by 5 and 6.

Reading the table: "ours" and "reference" are medians of ``--repeat`` runs
(``--repeat-big`` for target 4); "ratio or figure" is the value compared with
"goal"; "pass" says whether it meets it (n/a: no reference to compare with). Raw
figures go to ``benchmarks/results/targets.json``. Exit status: 0 all measured
targets pass, 1 a measurement of ours failed, 2 a goal was missed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import string
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

try:
    import _common as common
except ImportError:  # python -m benchmarks.bench_targets
    from benchmarks import _common as common

N_STD = 50_000
TIMEOUT_S = 600.0
SLEEP_N, SLEEP_S = 200, 0.02


@dataclass(frozen=True)
class Spec:
    """One kind of child measurement."""

    n: int
    mode: str = "run"  # "run", "dask" or "read" (df_read of the big database)
    poolsize: int | None = None
    sleep: float = 0.0
    skip_dups: bool = False
    big: bool = False  # use the shared big calc_dir instead of a fresh one


# func must live at module level (picklable for poolsize and dask), hence a real file
SNIPPET = string.Template("""\
import json
import resource
import sys
import time

import pandas
import psweep as ps


def func(pset):
$sleep_line    return {"r": pset["a"]}


def timed(call, *args, **kwds):
    t0 = time.perf_counter()
    out = call(*args, **kwds)
    return time.perf_counter() - t0, out


if __name__ == "__main__":
    run = ps.run_local if hasattr(ps, "run_local") else ps.run  # upstream 0.16: run()
    n, mode, calc_dir = $n, $mode, $calc_dir
    if mode == "read":
        wall, df = timed(ps.df_read, calc_dir + "/database.pk")
    else:
        params = [{"a": i} for i in range(n)]
        kw = dict(calc_dir=calc_dir, save=True, poolsize=$poolsize)
        if $skip_dups:
            kw["skip_dups"] = True
        if mode == "dask":
            from distributed import Client, LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
                with Client(cluster) as client:
                    warm = dict(kw, calc_dir=calc_dir + "_warmup")
                    run(func, params[:200], dask_client=client, **warm)
                    wall, df = timed(run, func, params, dask_client=client, **kw)
        else:
            wall, df = timed(run, func, params, **kw)
    assert len(df) == n, f"expected {n} rows, got {len(df)}"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    info = {
        "wall": wall,
        "maxrss_kib": rss / 1024 if sys.platform == "darwin" else rss,
        "rows": len(df),
        "psweep_file": ps.__file__,
        "psweep_version": getattr(ps, "__version__", "?"),
        "python": sys.version.split()[0],
        "pandas": pandas.__version__,
    }
    print(json.dumps(info))
""")


class Bench:
    """Runs and caches child measurements: (spec name, side) -> list of child JSON dicts."""

    def __init__(self, args: argparse.Namespace, targets: list[common.Target]) -> None:
        self.args = args
        self.targets = {t.label: t for t in targets}
        self.big_dir = Path(tempfile.mkdtemp(prefix="psweep-targets-big-"))
        self.specs = {
            "serial": Spec(N_STD),
            "pool2": Spec(N_STD, poolsize=2),
            "sleep": Spec(SLEEP_N, poolsize=2, sleep=SLEEP_S),
            "big": Spec(args.big_n, big=True),
            "read": Spec(args.big_n, mode="read", big=True),
            "skip_dups": Spec(args.big_n, skip_dups=True, big=True),
            "dask": Spec(20_000, mode="dask"),
        }
        self.raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.errors: dict[str, str] = {}  # "spec/side" -> message
        self.versions: dict[str, dict[str, str]] = {}

    def _child(self, side: str, name: str) -> dict[str, Any]:
        spec = self.specs[name]
        big_calc = self.big_dir / "calc"
        if spec.big and name != "big" and not (big_calc / "database.pk").exists():
            raise common.BenchError(f"{side}: no big database (target 4 failed?)")
        with tempfile.TemporaryDirectory(prefix="psweep-targets-") as tmp:
            tmpdir = Path(tmp)
            script = tmpdir / "bench_snippet.py"
            sleep_line = f"    time.sleep({spec.sleep!r})\n" if spec.sleep else ""
            script.write_text(
                SNIPPET.substitute(
                    sleep_line=sleep_line,
                    n=spec.n,
                    mode=repr(spec.mode),
                    calc_dir=repr(str(big_calc if spec.big else tmpdir / "calc")),
                    poolsize=repr(spec.poolsize),
                    skip_dups=repr(spec.skip_dups),
                )
            )
            target = self.targets[side]
            return common.run_json_child(target, [str(script)], tmpdir, TIMEOUT_S)

    def series(self, name: str, sides: tuple[str, ...] = ("ours", "upstream")) -> None:
        """Measure `name` for the sides not done yet, interleaving sides per repeat."""
        todo = [s for s in sides if s in self.targets and s not in self.raw.get(name, {})]
        reps = self.args.repeat_big if name == "big" else self.args.repeat
        for side in todo:
            self.raw.setdefault(name, {})[side] = []
        for rep in range(reps):
            for side in todo:
                key = f"{name}/{side}"
                if key in self.errors:
                    continue
                if name == "big":  # each repeat builds the database from scratch
                    shutil.rmtree(self.big_dir / "calc", ignore_errors=True)
                try:
                    info = self._child(side, name)
                except common.BenchError as exc:
                    self.errors[key] = str(exc)
                    log(f"[{key}] {exc}")
                    continue
                self.raw[name][side].append(info)
                self.versions[side] = {k: info[k] for k in ("python", "pandas", "psweep_version")}
                log(f"[{key}] {rep + 1}/{reps}: {info['wall']:.3f} s")

    def med(self, name: str, side: str = "ours", key: str = "wall") -> float | None:
        runs = self.raw.get(name, {}).get(side, [])
        return common.median_or_none([r[key] for r in runs])


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def mul(a: float | None, b: float) -> float | None:
    return None if a is None else a * b


def cell(value: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


@dataclass(frozen=True)
class Row:
    """One table row; `figure` is compared with `goal` (None: informative row)."""

    target: str
    ours: str
    reference: str
    figure: float | None
    goal: float | None = None
    op: str = "<="
    unit: str = ""

    def verdict(self) -> str:
        if self.goal is None:
            return "-"
        if self.figure is None:  # ours failed ("n/a" in ours) or no reference to compare
            return "no" if "n/a" in self.ours else "n/a"
        ok = self.figure <= self.goal if self.op == "<=" else self.figure >= self.goal
        return "yes" if ok else "no"

    def cells(self) -> list[str]:
        size = abs(self.figure or 0)
        spec = ".3f" if size < 10 else ".1f" if size < 1000 else ".0f"
        goal = "info" if self.goal is None else f"{self.op} {self.goal:g}{self.unit}"
        figure = cell(self.figure, spec, self.unit)
        return [self.target, self.ours, self.reference, figure, goal, self.verdict()]


def target_rows(b: Bench, number: int, big_n: int) -> list[Row]:
    """Measure what target `number` needs (cached across targets); return its rows."""
    both = ("ours", "upstream")
    if number == 1:
        b.series("serial")
        ours, ref = (mul(div(b.med("serial", s), N_STD), 1e6) for s in both)
        us = [cell(x, ".2f", " us/pset") for x in (ours, ref)]
        return [Row("1 serial overhead, N=50k", *us, div(ours, ref), 0.333)]
    if number == 2:
        b.series("serial")
        b.series("pool2")
        pool, serial = b.med("pool2"), b.med("serial")
        up_pool, up_serial = b.med("pool2", "upstream"), b.med("serial", "upstream")
        ours, ref = cell(pool, ".2f", " s"), f"serial {cell(serial, '.2f', ' s')}"
        up = f"pool {cell(up_pool, '.2f', ' s')} / serial {cell(up_serial, '.2f', ' s')}"
        return [
            Row("2 pool2/serial wall, N=50k", ours, ref, div(pool, serial), 1.1),
            Row("2 info: upstream pool2/serial", "-", up, div(up_pool, up_serial)),
        ]
    if number == 3:
        b.series("sleep")
        ours, ref = (div(SLEEP_N * SLEEP_S / 2, b.med("sleep", s)) for s in both)
        name = f"3 pool2 efficiency, {SLEEP_N} x {SLEEP_S * 1e3:g} ms"
        return [Row(name, cell(ours, ".3f"), cell(ref, ".3f"), ours, 0.90, ">=")]
    if number == 4:
        b.series("big", ("ours",))
        b.series("serial", ("upstream",))
        wall, scale = b.med("big"), big_n / N_STD
        ref = f"{cell(mul(b.med('serial', 'upstream'), scale), '.1f', ' s')} (scaled x{scale:g})"
        gib = div(b.med("big", key="maxrss_kib"), 1024**2)
        return [
            Row(f"4 serial wall, N={big_n}", cell(wall, ".2f", " s"), ref, wall, 30, unit=" s"),
            Row(f"4 peak RSS, N={big_n}", cell(gib, ".2f", " GiB"), "n/a", gib, 2, unit=" GiB"),
        ]
    if number in (5, 6):
        if "big" not in b.raw:  # the database of target 4, built once
            b.series("big", ("ours",))
        name, what, goal = ("read", "df_read", 2) if number == 5 else ("skip_dups", "skip_dups", 3)
        b.series(name, ("ours",))
        wall = b.med(name)
        label = f"{number} {what}, N={big_n}"
        return [Row(label, cell(wall, ".2f", " s"), "n/a", wall, goal, unit=" s")]
    b.series("dask", ("ours",))
    wall = b.med("dask")
    rate = div(b.specs["dask"].n, wall)
    ours = f"{cell(rate, '.0f', '/s')} ({cell(wall, '.2f', ' s')})"
    return [Row("7 dask LocalCluster 2 procs, N=20k", ours, "n/a", rate, 1000, ">=", "/s")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    p.add_argument("--repeat-big", type=int, default=1, help="runs of the N=--big-n case")
    p.add_argument("--big-n", type=int, default=1_000_000, help="psets of targets 4-6")
    p.add_argument("--only", default="1,2,3,4,5,6,7", help="comma-separated target numbers")
    p.add_argument("--skip-dask", action="store_true", help="leave out target 7")
    p.add_argument("--no-upstream", action="store_true", help="reference column: n/a")
    args = p.parse_args(argv)
    try:
        args.only = sorted({int(x) for x in args.only.split(",") if x.strip()})
    except ValueError:
        p.error(f"--only: expected numbers 1-7, got {args.only!r}")
    if not set(args.only) <= set(range(1, 8)):
        p.error("--only: targets are numbered 1-7")
    if args.skip_dask:
        args.only = [t for t in args.only if t != 7]
    if min(args.repeat, args.repeat_big, args.big_n) < 1:
        p.error("--repeat, --repeat-big and --big-n must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    targets = [common.ours_target()]
    if args.no_upstream:
        log("--no-upstream: reference column is n/a")
    elif any(t in args.only for t in (1, 2, 3, 4)):
        upstream = common.ensure_upstream_venv(log=log)
        if upstream is not None:
            targets.append(upstream)
    bench = Bench(args, targets)
    rows: list[Row] = []
    try:
        for number in args.only:
            rows += target_rows(bench, number, args.big_n)
    finally:
        shutil.rmtree(bench.big_dir, ignore_errors=True)

    table = [r.cells() for r in rows]
    missed = any(r.verdict() == "no" for r in rows)
    headers = ["target", "ours", "reference", "ratio or figure", "goal", "pass"]
    print(common.render_table(headers, table))
    footer = "; ".join(
        f"{side}: python {v['python']}, pandas {v['pandas']}, psweep {v['psweep_version']}"
        for side, v in bench.versions.items()
    )
    print(f"median of {args.repeat} (target 4: {args.repeat_big}); {footer or 'nothing measured'}")
    for key, msg in bench.errors.items():
        print(f"error [{key}]: {msg}")

    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = common.RESULTS_DIR / "targets.json"
    payload = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv[1:] if argv is None else argv,
        "args": vars(args),
        "specs": {k: asdict(v) for k, v in bench.specs.items()},
        "versions": bench.versions,
        "raw": bench.raw,
        "errors": bench.errors,
        "targets": [{**asdict(r), "pass": r.verdict()} for r in rows],
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    log(f"raw figures: {out}")
    if any(k.endswith("/ours") for k in bench.errors):
        return 1
    return 2 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
