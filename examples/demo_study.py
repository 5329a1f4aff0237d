"""A demo study end to end: a git repository, a driver script, runs, a dry run.

Usage::

    python examples/demo_study.py [DEST]      # DEST defaults to ./demo-study

It creates DEST as a git repository holding a driver script ``input.py`` and a
``.gitignore``, then, like a researcher would:

1. runs the study (a coarse grid) with ``backup=True, git=True``;
2. extends it with a finer grid (the database grows, calc/ is backed up first);
3. tries a third grid with ``simulate=True`` (calc/ stays untouched);
4. prints the database and the git history.

Run it again to add another run. Where git has no identity configured, the
demo sets one inside DEST only, and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psweep as ps

INPUT_PY = '''\
"""Driver of the demo study: damped oscillator amplitude over a parameter grid.

    python input.py coarse|fine [--simulate]
"""

import math
import os
import sys

import psweep as ps


def func(pset):
    """Amplitude after time t of an oscillator with damping `zeta`, frequency `omega`."""
    t = 1.0
    amp = math.exp(-pset["zeta"] * pset["omega"] * t)
    folder = os.path.join(pset["_calc_dir"], pset["_pset_id"])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "amplitude.txt"), "w") as fh:
        fh.write(f"{amp}\\n")
    return {"amplitude": amp}


GRIDS = {
    "coarse": ([0.1, 0.5], [1.0, 2.0]),
    "fine": ([0.2, 0.3, 0.4], [1.5]),
    "next": ([0.6, 0.7], [1.0, 2.0]),
}

if __name__ == "__main__":
    zetas, omegas = GRIDS[sys.argv[1]]
    params = ps.pgrid(
        ps.plist("zeta", zetas), ps.plist("omega", omegas), ps.plist("study", [sys.argv[1]])
    )
    simulate = "--simulate" in sys.argv
    df = ps.run_local(func, params, backup=not simulate, git=True, simulate=simulate)
    ps.df_print(df[df._run_id == df._run_id.iloc[-1]], cols=["study", "zeta", "omega", "amplitude"])
'''

GITIGNORE = """\
# backups and dry runs made by psweep
calc.bak*
calc.simulate
"""


def git(*args: str, cwd: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return proc.stdout.strip()


def has_identity(cwd: Path) -> bool:
    ok = subprocess.run(["git", "var", "GIT_COMMITTER_IDENT"], cwd=cwd, capture_output=True)
    return ok.returncode == 0


def setup(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if not (dest / ".git").exists():
        git("init", "-q", cwd=dest)
    if not has_identity(dest):
        git("config", "user.name", "psweep demo", cwd=dest)
        git("config", "user.email", "demo@example.org", cwd=dest)
        print(f"git has no identity here: set a demo identity in {dest}/.git/config only")
    (dest / "input.py").write_text(INPUT_PY)
    (dest / ".gitignore").write_text(GITIGNORE)


def step(title: str, *args: str, cwd: Path) -> None:
    print(f"\n=== {title}: python {' '.join(args)}")
    subprocess.run([sys.executable, *args], cwd=cwd, check=True)


def main() -> None:
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else "demo-study").resolve()
    setup(dest)
    step("run the study", "input.py", "coarse", cwd=dest)
    step("extend it with more psets", "input.py", "fine", cwd=dest)
    step("dry run of the next grid", "input.py", "next", "--simulate", cwd=dest)

    df = ps.df_read(dest / "calc" / "database.pk")
    sim = ps.df_read(dest / "calc.simulate" / "database.pk")
    print(f"\n=== database {dest / 'calc' / 'database.pk'}: {len(df)} rows")
    ps.df_print(df, cols=["study", "zeta", "omega", "amplitude", "_run_seq", "_pset_seq"])
    print(f"dry run: {len(sim)} rows in calc.simulate/, calc/ unchanged")
    backups = sorted(p.name for p in dest.glob("calc.bak_*"))
    print(f"backups: {', '.join(backups) or 'none'}")
    print("\n=== git log")
    print(textwrap.indent(git("log", "--oneline", cwd=dest), "  "))
    missing = ps.check_calc_dir(dest / "calc", df)["db_not_disk"]
    if missing:
        sys.exit(f"psets without output folders: {sorted(missing)}")
    print(f"\ndemo study ready in {dest}{os.sep}")


if __name__ == "__main__":
    main()
