"""Vary two parameters: every combination (grid) versus pairwise (zip).

Workflow: ``ps.pgrid(a, b)`` builds the nested loop over two plists, so
3 x 3 values give 9 psets. ``ps.pgrid([zip(a, b)])`` moves both parameters
together instead, which gives 3 psets (the list brackets are needed when zip
is the only argument; ``strict=True`` makes zip fail on plists of different
lengths instead of silently dropping values). Both runs are appended to
``calc/database.pk``, each with its own ``_run_id``.

Run it in any directory (it writes ``calc/`` there)::

    python vary_2_params.py
"""

import psweep as ps


def func(pset: dict) -> dict:
    return {"area": pset["width"] * pset["height"]}


if __name__ == "__main__":
    width = ps.plist("width", [1, 2, 3])
    height = ps.plist("height", [10, 20, 30])

    grid = ps.pgrid(width, height)
    df = ps.run_local(func, grid)
    print(f"grid: {len(grid)} psets")
    ps.df_print(df)

    pairs = ps.pgrid([zip(width, height, strict=True)])
    df = ps.run_local(func, pairs)
    print(f"\nzip: {len(pairs)} psets (rows of the second run)")
    ps.df_print(df[df._run_id == df._run_id.iloc[-1]])

    print(f"\ndatabase: {len(df)} rows from {df._run_id.nunique()} runs")
