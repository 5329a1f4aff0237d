"""Vary one parameter: the smallest complete parameter study.

Workflow: turn a list of values into psets with ``ps.plist``, call a function
on every pset with ``ps.run_local`` and look at the resulting database with
``ps.df_print``. The database is also saved to ``calc/database.pk``.

Run it in any directory (it writes ``calc/`` there)::

    python vary_1_param.py

Running it again appends a second run to the same database.
"""

import math

import psweep as ps


def func(pset: dict) -> dict:
    """Return the result for one pset; it is merged into the database row."""
    return {"result": math.sqrt(pset["a"])}


if __name__ == "__main__":
    params = ps.plist("a", [1, 2, 3, 4, 5])
    print("psets:", params)
    df = ps.run_local(func, params)
    # Columns starting with "_" (_run_id, _pset_id, ...) are hidden by default.
    ps.df_print(df)
