"""A study with failures, and its report: one HTML file to look at or send around.

Run it with ``python report.py``. It scans ``x`` and ``n`` with
``on_error="record"``; a few psets fail. Then it writes ``report.html``: the
runs with their provenance, ``err`` and ``steps`` over ``x`` and over ``n``,
the failed psets with their exception, and which ``(x, n)`` have rows. The
file holds its figures itself, so it opens offline. The same from the shell:
``psweep report calc -o report.html``.
"""

import psweep as ps
from psweep.observe.reporting import report


def func(pset):
    """A made-up error estimate; fails where the 'solver' would not converge."""
    if pset["x"] >= 0.8 and pset["n"] < 20:
        raise ArithmeticError(f"no convergence for x={pset['x']} with n={pset['n']}")
    return {"err": pset["x"] ** 2 / pset["n"], "steps": 3 * pset["n"]}


if __name__ == "__main__":
    params = ps.pgrid(ps.plist("x", [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]), ps.plist("n", [10, 20, 40]))
    df = ps.run_local(func, params, on_error="record")
    failed = (df["_pset_status"] == "failed").sum()
    out = report("calc", "report.html", title="report example")
    print(f"{len(df)} rows, {failed} failed; wrote {out}")
