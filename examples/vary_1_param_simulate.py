"""Simulate (dry-run) an extension of a study before running it for real.

Workflow: an existing study lives in ``calc/``. Before appending new psets to
it, ``ps.run_local(..., simulate=True)`` copies ``calc/database.pk`` to
``calc.simulate/`` and appends the new rows there, without calling ``func``.
Inspect the result; if it looks right, run again without ``simulate``.
``calc/`` is not touched by the simulated run.

Run it in any directory (it writes ``calc/`` and ``calc.simulate/`` there)::

    python vary_1_param_simulate.py

The first call does the real run (if ``calc/database.pk`` does not exist yet)
and then the simulated one; later calls only simulate.
"""

import os

import psweep as ps


def func(pset: dict) -> dict:
    print(f"  func called with a={pset['a']}")
    return {"result": pset["a"] ** 2}


if __name__ == "__main__":
    if not os.path.exists(os.path.join("calc", "database.pk")):
        print("real run:")
        ps.run_local(func, ps.plist("a", [1, 2, 3]))

    print("simulated run (func is not called):")
    df = ps.run_local(func, ps.plist("a", [4, 5]), simulate=True)
    # Simulated rows have no "result": func did not run for them.
    ps.df_print(df, cols=["_run_seq", "a", "result"])

    n_real = len(ps.df_read(os.path.join("calc", "database.pk")))
    n_sim = len(ps.df_read(os.path.join("calc.simulate", "database.pk")))
    print(f"\ncalc/database.pk: {n_real} rows, calc.simulate/database.pk: {n_sim} rows")
