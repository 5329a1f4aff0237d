"""Time a shell command for each combination of its parameters.

Written for psweep 0.16. ``func`` runs ``sleep`` (a stand-in for the program
to benchmark) a few times and keeps the fastest wall time in ``timing_``.
The constant ``label`` parameter is part of every pset. The command is an
argument list, so no value passes through a shell.

Run it in this directory::

    python benchmark_shell_command.py
"""

import subprocess
import timeit

import psweep as ps

# Each script of this folder keeps its own database.
CALC_DIR = "calc/benchmark_shell_command"


def func(pset):
    seconds = 0.01 * pset["a"] / pset["b"]
    cmd = ["sleep", f"{seconds:.4f}"]
    timing = min(timeit.repeat(lambda: subprocess.run(cmd, check=True), repeat=3, number=1))
    return {"cmd_": " ".join(cmd), "timing_": timing}


if __name__ == "__main__":
    params = ps.pgrid(
        ps.plist("a", [1, 2]),
        ps.plist("b", [1.0, 2.0]),
        ps.plist("label", ["sleep"]),
    )
    df = ps.run(func, params, calc_dir=CALC_DIR)
    ps.df_print(df, cols=["a", "b", "label", "cmd_", "timing_", "_exec_host"])
