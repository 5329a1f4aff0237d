"""psweep at scale: 1M psets, extending a 1M-row database, start-up, file sizes.

One run prints one table, ours against upstream psweep 0.16.0, with a target
and PASS/FAIL for each row. ``func`` is trivial (``return {"r": pset["a"]}``),
``params`` is ``[{"a": i} for i in range(N)]`` built inside the child, every
run is serial with ``save=True`` into a fresh temporary ``calc_dir``. Every
figure comes from a fresh child process running a small generated script (ours:
the current interpreter with the repository root on ``PYTHONPATH``; upstream:
``benchmarks/.venv-upstream`` with ``python -I``, where ``run_local`` is called
``run``), as in ``bench_overhead.py``. Peak RSS is the child's own
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at its end (KiB on Linux), so it
covers the whole process: interpreter, imports, ``params`` and the run.

Rows (``--cases`` name in brackets):

* 1M psets [big]: wall of the one run call over N psets (``perf_counter``
  around it) and the child's peak RSS. Ratio ours/upstream.
* extend [extend]: the N-row database of the big case (built once, untimed, if
  big is not selected) is copied into a fresh ``calc_dir``; a fresh child calls
  ``run(func, [{"a": i} for i in range(N + N/1000)], calc_dir=<copy>,
  skip_dups=True)``: N known psets plus N/1000 new ones. Wall of that call and
  the child's peak RSS (so the RSS is that of the extension alone). If the
  database then has other than N + N/1000 rows (upstream 0.16 with pandas 3
  runs the known psets again: the hashes it recomputes for the stored rows
  differ from those of the new psets), a note below the table says so. Its
  duplicate filter tests each pset's hash with ``in`` on an array of all stored
  hashes, O(N^2): at N=1M that takes hours. So an extend child still running
  after ``--extend-timeout`` (600 s) is stopped; the table then shows lower
  bounds for it (``> 600 s``: how long the call ran; peak RSS so far, from
  ``/proc/<pid>/status`` VmHWM) and the ratio as an upper bound (``< 0.016``),
  PASS if that bound meets the target. A side stopped once is not repeated.
* serial overhead [overhead]: wall of a run over min(50k, N) psets divided by
  that number, us/pset.
* import [import]: ``time.process_time()`` around ``import psweep`` in a fresh
  ``python -c`` (CPU of the import alone, without interpreter start-up).
* ``psweep --help`` [help], ours only: wall of the whole subprocess
  ``python -m psweep --help`` (what the console script ``psweep`` runs:
  ``psweep.cli:main``) from start to exit, measured in this process.
* ``psweep status`` [status], ours only: a study of 10 psets is made first;
  then the wall of the whole subprocess ``python -m psweep status <calc_dir>``.
* database file [dbsize]: size of ``calc/database.pk`` after the big run, MB
  (10**6 bytes). Ratio ours/upstream.
* JSON format [json], ours only: a child reads the N-row ``database.pk`` and
  times ``ps.df_write(df, "db.json")``; another fresh child times
  ``ps.df_read("db.json")``. "Extra memory" is the larger peak RSS of those two
  children minus the peak RSS of a third child that only imports psweep and
  reads the N-row pickle with ``ps.df_read``: what writing or reading JSON
  costs in memory beyond having the frame, GB (10**9 bytes).

Each figure is the median over ``--repeat`` children (the cheap rows import,
help and status take at least 5). Ratio rows pass when ours/upstream is at most
the target, the ours-only rows when ours is at most the absolute target.

    python benchmarks/bench_scale.py                    # N=1,000,000: several minutes
    python benchmarks/bench_scale.py --n 100000 --repeat 1
    python benchmarks/bench_scale.py --cases import,help,status --no-upstream

Progress goes to stderr, the table to stdout, the raw figures to
``benchmarks/results/scale.json`` (``--out``). Exit status: 0 if every measured
row passes, 1 if a measurement of ours failed, 2 if a target was missed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import _common as common
except ImportError:  # python -m benchmarks.bench_scale
    from benchmarks import _common as common

CASE_NAMES = ("big", "extend", "overhead", "import", "help", "status", "dbsize", "json")
OURS_ONLY = ("help", "status", "json")
CHEAP = ("import", "help", "status")  # at least MIN_CHEAP samples: each takes < 1 s
MIN_CHEAP = 5
OVERHEAD_N = 50_000
STATUS_N = 10

# one child script, its mode from argv; func at module level like a user's script
CHILD = """\
import json
import os
import resource
import sys
import time

import pandas
import psweep as ps


def func(pset):
    return {"r": pset["a"]}


def do_run(n, calc_dir, skip_dups):
    # psweep 0.7.0 API is run_local(); upstream 0.16 calls it run()
    run = getattr(ps, "run_local", None) or getattr(ps, "run", None)
    params = [{"a": i} for i in range(n)]
    kwds = {"skip_dups": True} if skip_dups else {}
    # when the call began, for the parent if it has to stop a call that takes too long
    with open(os.path.join(os.path.dirname(calc_dir), "call_started"), "w") as fd:
        fd.write(repr(time.time()))
    t0 = time.perf_counter()
    df = run(func, params, calc_dir=calc_dir, save=True, **kwds)
    wall = time.perf_counter() - t0
    # with skip_dups the parent checks the rows: upstream 0.16 may run the known psets again
    if len(df) != n and not skip_dups:
        sys.exit(f"expected {n} rows, got {len(df)}")
    return {"wall": wall, "rows": len(df)}


def do_read(fn):
    t0 = time.perf_counter()
    df = ps.df_read(fn)
    return {"wall": time.perf_counter() - t0, "rows": len(df)}


def do_json_write(pickle_fn, json_fn):
    df = ps.df_read(pickle_fn)
    t0 = time.perf_counter()
    ps.df_write(df, json_fn)
    wall = time.perf_counter() - t0
    return {"wall": wall, "rows": len(df), "json_bytes": os.path.getsize(json_fn)}


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "run":
        info = do_run(int(args[0]), args[1], args[2] == "skip_dups")
    elif mode == "read":
        info = do_read(args[0])
    elif mode == "json_write":
        info = do_json_write(args[0], args[1])
    else:
        sys.exit(f"unknown mode {mode}")
    info.update(
        rss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        psweep_file=ps.__file__,
        psweep_version=getattr(ps, "__version__", "?"),
        python=sys.version.split()[0],
        pandas=pandas.__version__,
    )
    print(json.dumps(info))
"""

IMPORT_CODE = """\
import time
t0 = time.process_time()
import psweep
cpu = time.process_time() - t0
import json
print(json.dumps({"cpu": cpu, "psweep_file": psweep.__file__}))
"""


def vm_hwm_kib(pid: int) -> float | None:
    """Peak RSS so far of a running process (Linux: VmHWM), KiB; None if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def run_bounded(target: common.Target, args: list[str], cwd: Path, limit: float) -> dict[str, Any]:
    """Like common.run_json_child, but a child still running after `limit` s is stopped.

    Then the result is ``{"timed_out": True, "wall_lower": <s the call ran>,
    "rss_kib_lower": <its peak RSS so far>}``: lower bounds of its figures.
    """
    proc = subprocess.Popen(
        target.argv(*args),
        cwd=cwd,
        env=target.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        hwm = vm_hwm_kib(proc.pid)
        started = cwd / "call_started"
        wall = time.time() - float(started.read_text()) if started.exists() else None
        proc.kill()
        proc.communicate()
        return {"timed_out": True, "wall_lower": wall, "rss_kib_lower": hwm}
    if proc.returncode != 0:
        tail = " | ".join(err.strip().splitlines()[-5:])
        raise common.BenchError(f"{target.label}: exit {proc.returncode}: {tail}")
    try:
        info = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise common.BenchError(f"{target.label}: no JSON line in {out[-300:]!r}") from exc
    from_repo = Path(info["psweep_file"]).resolve().is_relative_to(common.REPO_ROOT / "psweep")
    if from_repo != (target.label == "ours"):
        raise common.BenchError(f"{target.label} imported {info['psweep_file']}")
    return info


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def mb(kib: float) -> float:
    return kib * 1024 / 1e6


@dataclass(frozen=True)
class Row:
    """One line of the table: one or more metrics (joined by " / "), one target each."""

    case: str
    label: str
    metrics: tuple[str, ...]
    units: tuple[str, ...]
    spec: str
    targets: tuple[float, ...]
    absolute: bool  # ours against the target (ours only) instead of ours/upstream


def rows_for(n: int) -> list[Row]:
    big = f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n:,}"
    new = f"{max(1, n // 1000):,}"
    oh = f"{min(OVERHEAD_N, n) / 1000:g}k"
    return [
        Row("big", f"{big} psets: wall", ("big_wall",), (" s",), ".2f", (0.25,), False),
        Row("big", f"{big} psets: peak RSS", ("big_rss",), (" MB",), ".0f", (0.5,), False),
        Row(
            "extend",
            f"extend that {big}-row database by {new} psets, skip_dups=True: wall",
            ("ext_wall",),
            (" s",),
            ".2f",
            (0.05,),
            False,
        ),
        Row("extend", "the same: peak RSS", ("ext_rss",), (" MB",), ".0f", (0.6,), False),
        Row(
            "overhead",
            f"serial overhead per trivial pset (N={oh})",
            ("overhead_us",),
            (" us",),
            ".1f",
            (0.25,),
            False,
        ),
        Row(
            "import",
            '`python -c "import psweep"` (CPU)',
            ("import_cpu_ms",),
            (" ms",),
            ".0f",
            (1.0,),
            False,
        ),
        Row("help", "`psweep --help` (wall, ms)", ("help_ms",), (" ms",), ".0f", (150,), True),
        Row(
            "status",
            "`psweep status` on a small study (wall, ms)",
            ("status_ms",),
            (" ms",),
            ".0f",
            (250,),
            True,
        ),
        Row(
            "dbsize",
            f"database file at {big} rows (MB)",
            ("db_mb",),
            (" MB",),
            ".1f",
            (1.3,),
            False,
        ),
        Row(
            "json",
            f"JSON format, {big} rows: write / read / extra memory",
            ("json_write_s", "json_read_s", "json_extra_gb"),
            (" s", " s", " GB"),
            ".2f",
            (3, 3, 1),
            True,
        ),
    ]


class Bench:
    """Runs the children of each case and keeps every sample."""

    def __init__(self, args: argparse.Namespace, targets: list[common.Target], work: Path):
        self.args = args
        self.targets = targets
        self.work = work
        self.child = work / "scale_child.py"
        self.child.write_text(CHILD)
        self.samples: dict[str, dict[str, list[float]]] = {}
        self.errors: dict[str, str] = {}
        self.notes: dict[str, str] = {}  # odd but measured: shown below the table
        # metric -> side -> lower bounds, from children stopped after --extend-timeout
        self.lower: dict[str, dict[str, list[float]]] = {}
        self.stopped: set[str] = set()  # "case/side" stopped once: not repeated
        self.versions: dict[str, dict[str, str]] = {}
        self.base: dict[str, Path] = {}  # side -> calc dir holding the N-row database
        self.seq = 0

    # -- helpers ------------------------------------------------------------------
    def fresh_dir(self, side: str, name: str) -> Path:
        self.seq += 1
        path = self.work / side / f"{name}{self.seq}"
        path.mkdir(parents=True)
        return path

    def add(self, metric: str, side: str, value: float) -> None:
        self.samples.setdefault(metric, {}).setdefault(side, []).append(value)

    def child_json(self, target: common.Target, cwd: Path, *args: str) -> dict[str, Any]:
        info = common.run_json_child(
            target, [str(self.child), *args], cwd=cwd, timeout=self.args.timeout
        )
        self.versions[target.label] = {
            k: info[k] for k in ("python", "pandas", "psweep_version") if k in info
        }
        return info

    def run_psets(
        self, target: common.Target, n: int, calc: Path, skip_dups: bool = False
    ) -> dict[str, Any]:
        flag = "skip_dups" if skip_dups else "-"
        return self.child_json(target, calc.parent, "run", str(n), str(calc), flag)

    def ensure_base(self, target: common.Target) -> Path:
        """The calc dir of an N-row database of this side; built (untimed) if missing."""
        if target.label not in self.base:
            log(f"[base] {target.label}: building the {self.args.n}-row database (not timed)")
            calc = self.fresh_dir(target.label, "base") / "calc"
            self.run_psets(target, self.args.n, calc)
            self.base[target.label] = calc
        return self.base[target.label]

    def each(self, case: str, fn: Callable[[common.Target], str]) -> None:
        """Call fn(target) repeat times per side, sides interleaved; log what it returns."""
        targets = [t for t in self.targets if t.label == "ours" or case not in OURS_ONLY]
        repeat = max(self.args.repeat, MIN_CHEAP) if case in CHEAP else self.args.repeat
        for rep in range(repeat):
            for target in targets:
                key = f"{case}/{target.label}"
                if key in self.errors or key in self.stopped:
                    continue
                try:
                    msg = fn(target)
                except (common.BenchError, OSError) as exc:
                    self.errors[key] = str(exc)
                    log(f"[{case}] {exc}")
                    continue
                log(f"[{case}] {target.label} {rep + 1}/{repeat}: {msg}")

    # -- the cases --------------------------------------------------------------------
    def case_big(self, target: common.Target) -> str:
        calc = self.fresh_dir(target.label, "big") / "calc"
        info = self.run_psets(target, self.args.n, calc)
        self.add("big_wall", target.label, info["wall"])
        self.add("big_rss", target.label, mb(info["rss_kib"]))
        size = (calc / "database.pk").stat().st_size / 1e6
        self.add("db_mb", target.label, size)
        old = self.base.get(target.label)
        self.base[target.label] = calc  # the newest is the base of extend and json
        if old is not None:
            shutil.rmtree(old.parent, ignore_errors=True)
        return f"{info['wall']:.2f} s, {mb(info['rss_kib']):.0f} MB, db {size:.1f} MB"

    def case_dbsize(self, target: common.Target) -> str:
        if "big" in self.args.cases:  # measured with each big run
            return "from the big runs"
        size = (self.ensure_base(target) / "database.pk").stat().st_size / 1e6
        self.add("db_mb", target.label, size)
        return f"{size:.1f} MB"

    def case_extend(self, target: common.Target) -> str:
        base = self.ensure_base(target)
        calc = self.fresh_dir(target.label, "extend") / "calc"
        shutil.copytree(base, calc, symlinks=True)
        total = self.args.n + max(1, self.args.n // 1000)
        argv = [str(self.child), "run", str(total), str(calc), "skip_dups"]
        try:
            info = run_bounded(target, argv, calc.parent, self.args.extend_timeout)
        finally:
            shutil.rmtree(calc.parent, ignore_errors=True)
        if info.get("timed_out"):
            return self.extend_stopped(target.label, info)
        self.add("ext_wall", target.label, info["wall"])
        self.add("ext_rss", target.label, mb(info["rss_kib"]))
        self.add("ext_rows", target.label, info["rows"])
        if info["rows"] != total:
            self.notes[f"extend/{target.label}"] = (
                f"skip_dups=True left {info['rows']} rows, not {total}: "
                f"it ran {info['rows'] - self.args.n} psets, not {total - self.args.n}"
            )
        return f"{info['wall']:.2f} s, {mb(info['rss_kib']):.0f} MB, {info['rows']} rows"

    def extend_stopped(self, side: str, info: dict[str, Any]) -> str:
        wall, kib = info["wall_lower"], info["rss_kib_lower"]
        if wall is not None:
            self.lower.setdefault("ext_wall", {}).setdefault(side, []).append(wall)
        if kib is not None:
            self.lower.setdefault("ext_rss", {}).setdefault(side, []).append(mb(kib))
        rss = "?" if kib is None else f"{mb(kib):.0f} MB"
        msg = (
            f"stopped after --extend-timeout {self.args.extend_timeout:g} s: the call ran "
            f"{common.fmt(wall, '.0f')} s, peak RSS so far {rss} (lower bounds)"
        )
        self.notes[f"extend/{side}"] = msg
        self.stopped.add(f"extend/{side}")  # another try would take as long again
        return msg

    def case_overhead(self, target: common.Target) -> str:
        n = min(OVERHEAD_N, self.args.n)
        tmp = self.fresh_dir(target.label, "overhead")
        try:
            info = self.run_psets(target, n, tmp / "calc")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        us = info["wall"] / n * 1e6
        self.add("overhead_us", target.label, us)
        return f"{us:.1f} us/pset"

    def case_import(self, target: common.Target) -> str:
        info = common.run_json_child(
            target, ["-c", IMPORT_CODE], cwd=self.work, timeout=self.args.timeout
        )
        self.add("import_cpu_ms", target.label, info["cpu"] * 1e3)
        return f"{info['cpu'] * 1e3:.0f} ms CPU"

    def timed_command(self, target: common.Target, *args: str) -> float:
        """Wall time of the whole subprocess `python -m psweep ARGS`, in ms."""
        argv = target.argv("-m", "psweep", *args)
        t0 = time.perf_counter()
        proc = subprocess.run(
            argv, cwd=self.work, env=target.env, capture_output=True, text=True, check=False
        )
        wall = (time.perf_counter() - t0) * 1e3
        if proc.returncode != 0:
            raise common.BenchError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr}")
        return wall

    def case_help(self, target: common.Target) -> str:
        ms = self.timed_command(target, "--help")
        self.add("help_ms", target.label, ms)
        return f"{ms:.0f} ms"

    def case_status(self, target: common.Target) -> str:
        key = f"status-{target.label}"
        if key not in self.base:
            self.base[key] = self.fresh_dir(target.label, "status") / "calc"
            self.run_psets(target, STATUS_N, self.base[key])
        ms = self.timed_command(target, "status", str(self.base[key]))
        self.add("status_ms", target.label, ms)
        return f"{ms:.0f} ms"

    def case_json(self, target: common.Target) -> str:
        pickle_fn = self.ensure_base(target) / "database.pk"
        tmp = self.fresh_dir(target.label, "json")
        json_fn = tmp / "db.json"
        try:
            wrote = self.child_json(target, tmp, "json_write", str(pickle_fn), str(json_fn))
            read = self.child_json(target, tmp, "read", str(json_fn))
            plain = self.child_json(target, tmp, "read", str(pickle_fn))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if read["rows"] != wrote["rows"]:
            raise common.BenchError(f"db.json read back {read['rows']} of {wrote['rows']} rows")
        extra = max(wrote["rss_kib"], read["rss_kib"]) - plain["rss_kib"]
        extra_gb = extra * 1024 / 1e9
        self.add("json_write_s", target.label, wrote["wall"])
        self.add("json_read_s", target.label, read["wall"])
        self.add("json_extra_gb", target.label, extra_gb)
        self.add("json_mb", target.label, wrote["json_bytes"] / 1e6)
        return (
            f"write {wrote['wall']:.2f} s, read {read['wall']:.2f} s, extra {extra_gb:.2f} GB "
            f"(RSS write {mb(wrote['rss_kib']):.0f} / read {mb(read['rss_kib']):.0f} / "
            f"pickle only {mb(plain['rss_kib']):.0f} MB), file {wrote['json_bytes'] / 1e6:.0f} MB"
        )

    def run_all(self) -> None:
        # big first: its database is the base of dbsize, extend and json
        for case in ("big", "dbsize", "extend", "json", "overhead", "import", "help", "status"):
            if case in self.args.cases:
                self.each(case, getattr(self, f"case_{case}"))

    def median(self, metric: str, side: str) -> float | None:
        return common.median_or_none(self.samples.get(metric, {}).get(side, []))


def evaluate(bench: Bench, row: Row) -> dict[str, Any]:
    """Medians, ratio and verdict of one row."""
    ours = [bench.median(m, "ours") for m in row.metrics]
    ref = [bench.median(m, "upstream") for m in row.metrics]
    # a stopped upstream child gives a lower bound: ours/bound is an upper bound of the ratio
    lows = bench.lower.get(row.metrics[0], {}).get("upstream")
    ref_lower = min(lows) if lows and ref[0] is None else None
    ratio = None
    if not row.absolute and ours[0] is not None and (ref[0] or ref_lower):
        ratio = ours[0] / (ref[0] or ref_lower)
    compared = ours if row.absolute else [ratio]
    measured = all(v is not None for v in compared)
    ok = measured and all(v <= t for v, t in zip(compared, row.targets, strict=False))
    if ref_lower is not None and not ok:
        measured = False  # ratio < bound > target: cannot tell
    return {
        "case": row.case,
        "label": row.label,
        "metrics": list(row.metrics),
        "ours": ours,
        "upstream": ref,
        "ratio": ratio,
        "upstream_lower_bound": ref_lower,  # then "ratio" is an upper bound
        "targets": list(row.targets),
        "absolute": row.absolute,
        "result": ("PASS" if ok else "FAIL") if measured else "n/a",
    }


def cells(row: Row, values: list[float | None]) -> str:
    if all(v is None for v in values):
        return "n/a"
    return " / ".join(
        common.fmt(v, row.spec) + ("" if v is None else u)
        for v, u in zip(values, row.units, strict=True)
    )


def upstream_cell(row: Row, res: dict[str, Any]) -> str:
    if row.absolute:
        return "-"
    if res["upstream_lower_bound"] is not None:
        return "> " + cells(row, [res["upstream_lower_bound"]])
    return cells(row, res["upstream"])


def ratio_cell(row: Row, res: dict[str, Any]) -> str:
    if row.absolute:
        return "-"
    prefix = "< " if res["upstream_lower_bound"] is not None else ""
    return prefix + common.fmt(res["ratio"], ".3f")


def target_text(row: Row) -> str:
    if not row.absolute:
        return f"≤ {row.targets[0]:g}"
    parts = [f"{t:g}{u}" for t, u in zip(row.targets, row.units, strict=True)]
    return "≤ " + " / ".join(parts) + " (ours only)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="psets of the big run")
    p.add_argument("--repeat", type=int, default=3, help="children per side and case")
    p.add_argument(
        "--cases",
        default=",".join(CASE_NAMES),
        help=f"comma-separated, from: {', '.join(CASE_NAMES)} (default: all)",
    )
    p.add_argument("--no-upstream", action="store_true", help="skip the reference")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per child")
    p.add_argument(
        "--extend-timeout",
        type=float,
        default=600,
        help="stop an extend child after this many seconds and use lower bounds of its "
        "figures (upstream 0.16's skip_dups takes O(N^2)) (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=common.RESULTS_DIR / "scale.json",
        help="raw figures (default: %(default)s)",
    )
    args = p.parse_args(argv)
    args.cases = common.selected_cases(p, args.cases, list(CASE_NAMES))
    if args.n < 1 or args.repeat < 1:
        p.error("--n and --repeat must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    targets = [common.ours_target()]
    if args.no_upstream:
        log("--no-upstream: reference column is n/a")
    else:
        upstream = common.ensure_upstream_venv(log=log)
        if upstream is not None:
            targets.append(upstream)

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="psweep-bench-scale-") as tmp:
        bench = Bench(args, targets, Path(tmp))
        bench.run_all()
    rows = [r for r in rows_for(args.n) if r.case in args.cases]
    results = [evaluate(bench, r) for r in rows]

    headers = ["case", "ours", "upstream 0.16", "ratio", "target", "result"]
    table = [
        [
            row.label,
            cells(row, res["ours"]),
            upstream_cell(row, res),
            ratio_cell(row, res),
            target_text(row),
            res["result"],
        ]
        for row, res in zip(rows, results, strict=True)
    ]
    print(common.render_table(headers, table))
    footer = "; ".join(
        f"{side}: python {v['python']}, pandas {v['pandas']}, psweep {v['psweep_version']}"
        for side, v in bench.versions.items()
    )
    print(f"median of {args.repeat} (import/help/status: >= {MIN_CHEAP}); {footer or 'n/a'}")
    for key, note in bench.notes.items():
        print(f"note [{key}]: {note}")
    for key, err in bench.errors.items():
        print(f"error [{key}]: {err}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv[1:] if argv is None else argv,
        "n": args.n,
        "repeat": args.repeat,
        "elapsed_s": time.perf_counter() - t0,
        "versions": bench.versions,
        "rows": results,
        "samples": bench.samples,
        "lower_bounds": bench.lower,
        "notes": bench.notes,
        "errors": bench.errors,
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    log(f"raw figures: {args.out} ({payload['elapsed_s']:.0f} s in all)")
    if any(key.endswith("/ours") for key in bench.errors):
        return 1
    return 2 if any(r["result"] == "FAIL" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
