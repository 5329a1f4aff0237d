"""Does the study's image give the results the host gives?  (nox -s reproduce)

Runs the study twice into calc.reproduce/: once here (host/) and once in the
study's image built from its Dockerfile (container/, with this folder mounted
at /study), then pairs the rows by pset hash and compares every parameter and
result column with ps.df_compare: floats exactly, unless --rtol/--atol allow a
difference. Ids, times, run and host columns are not compared. Neither run
commits to git or touches calc/.

    python scripts/reproduce.py                  # build the image, run both, compare
    python scripts/reproduce.py --first 4        # only the first 4 psets
    python scripts/reproduce.py --rtol 1e-12     # floats may differ by a relative 1e-12
    python scripts/reproduce.py --no-build       # use the image built before

ENGINE (docker or podman), IMAGE, BASE_IMAGE, BUILD_ARGS and RUN_ARGS work
as for scripts/in-image.sh. Before anything runs, it asks scripts/in-image.sh
which engine answers; without one it stops with that script's one-line
message. Exit status: 0 if the two agree, 1 if not, 3 (or the failed step's
own) if a step failed.
"""

import argparse
import os
import shutil
import subprocess
import sys

import psweep as ps

OUT = "calc.reproduce"


def run(cmd):
    """Run a step; if it fails, stop with its exit status (it has said why itself)."""
    print("+", " ".join(cmd), flush=True)
    returncode = subprocess.run(cmd).returncode
    if returncode != 0:
        raise SystemExit(returncode)


def container_engine():
    """The engine that answers, as scripts/in-image.sh picks it; else stop with its message."""
    proc = subprocess.run(["sh", "scripts/in-image.sh", "engine"], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    return proc.stdout.strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first", type=int, metavar="N", help="run only the first N psets")
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance of floats")
    parser.add_argument("--atol", type=float, default=0.0, help="absolute tolerance of floats")
    parser.add_argument("--no-build", action="store_true", help="do not build the image first")
    parser.add_argument("--diffs", type=int, default=5, help="how many differences to show")
    args = parser.parse_args(argv)
    os.chdir(os.path.dirname(os.path.abspath(__file__)) + "/..")
    os.environ["ENGINE"] = container_engine()  # checked once, before the study runs
    study = ["input.py", "--no-git"] + ([] if args.first is None else ["--first", str(args.first)])
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    run([sys.executable, *study, "--calc-dir", f"{OUT}/host"])
    if not args.no_build:
        run(["sh", "scripts/in-image.sh", "build"])
    run(["sh", "scripts/in-image.sh", "python", *study, "--calc-dir", f"{OUT}/container"])
    host = ps.df_read(f"{OUT}/host/database.pk")
    box = ps.df_read(f"{OUT}/container/database.pk")
    result = ps.df_compare(host, box, rtol=args.rtol, atol=args.atol)
    print(f"host ({OUT}/host) vs container ({OUT}/container):")
    print(result.report(first=args.diffs))
    return 0 if result.same else 1


if __name__ == "__main__":
    sys.exit(main())
