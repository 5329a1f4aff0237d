"""Start-up costs: ``import psweep`` (CPU, against upstream 0.16), ``psweep --help``,
``psweep --version`` and ``psweep status`` on a small study (wall, whole process).

Each number is the median of --repeat fresh processes. The import is timed with
``time.process_time()`` around it, inside the child; the commands with
``time.perf_counter()`` around ``subprocess.run`` (interpreter start-up included). The
upstream import runs ``python -I`` in ``benchmarks/.venv-upstream`` (see bench_overhead.py;
``n/a`` without it), alternating with ours so that both see the same load. Children run
without PYTHONDONTWRITEBYTECODE, as installed packages do (compiled once, then cached).

    python benchmarks/bench_startup.py
    python benchmarks/bench_startup.py --repeat 11 --src /tmp/other-checkout
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO_ROOT, UPSTREAM_VENV

IMPORT = "import time; t = time.process_time(); import psweep; print(time.process_time() - t)"
# what a script does next: use the names of a run (pandas, numpy, params, store, lifecycle)
FIRST_USE = (
    "import time; t = time.process_time(); import psweep as ps; "
    "ps.plist, ps.pgrid, ps.run_local, ps.df_read, ps.df_write; "
    "print(time.process_time() - t)"
)
MAKE_STUDY = (
    "import sys, psweep as ps; "
    "ps.run_local(lambda p: {'r': p['a']}, ps.plist('a', range(10)), calc_dir=sys.argv[1])"
)


def _cpu(cmd: list[str], env: dict | None) -> float:
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, env=env, cwd=tempfile.gettempdir()
    )
    return float(out.stdout.strip())


def _wall(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--src", help="a checkout whose psweep to measure (on PYTHONPATH)")
    parser.add_argument(
        "--upstream",
        default=str(UPSTREAM_VENV / "bin" / "python"),
        help="the Python of upstream psweep 0.16 (default: %(default)s)",
    )
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = args.src or str(REPO_ROOT)
    exe = str(Path(sys.executable).parent / "psweep")
    upstream = Path(args.upstream)
    ours, theirs = [], []
    for _ in range(args.repeat):  # alternating: the same load on both
        ours.append(_cpu([sys.executable, "-c", IMPORT], env))
        if upstream.exists():
            theirs.append(_cpu([str(upstream), "-I", "-c", IMPORT], None))
    first_use = [_cpu([sys.executable, "-c", FIRST_USE], env) for _ in range(args.repeat)]
    up = statistics.median(theirs) if theirs else None
    rows = [("import psweep (CPU)", statistics.median(ours), up)]
    rows.append(("import psweep + a run's names (CPU)", statistics.median(first_use), up))
    with tempfile.TemporaryDirectory() as tmp:
        calc = os.path.join(tmp, "calc")
        subprocess.run([sys.executable, "-c", MAKE_STUDY, calc], check=True, env=env)
        for name, cmd in [
            ("psweep --help (wall)", [exe, "--help"]),
            ("psweep --version (wall)", [exe, "--version"]),
            ("psweep status, 10 psets (wall)", [exe, "status", calc]),
            ("psweep status --json, 10 psets (wall)", [exe, "status", "--json", calc]),
        ]:
            times = [_wall(cmd, env) for _ in range(args.repeat)]
            rows.append((name, statistics.median(times), None))
    print(
        f"{'median of ' + str(args.repeat):40s} {'ours ms':>8s} {'upstream ms':>12s} {'ratio':>6s}"
    )
    for name, value, ref in rows:
        other = f"{ref * 1e3:12.0f} {value / ref:6.2f}" if ref else f"{'n/a':>12s} {'':>6s}"
        print(f"{name:40s} {value * 1e3:8.0f} {other}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
