"""Extend a database run by run; a repeated grid with ``skip_dups`` adds nothing.

Written for psweep 0.16. Two runs on different grids of ``a`` and ``b`` go
into one database, told apart by ``_run_id`` and ``_run_seq``; ``_pset_seq``
counts psets over all runs. The third run repeats the first grid with
``skip_dups=True``: every ``_pset_hash`` is already in the database, so no
rows are added.

Run it in this directory::

    python vary_2_params_repeat.py
"""

import psweep as ps

# Each script of this folder keeps its own database.
CALC_DIR = "calc/vary_2_params_repeat"


def func(pset):
    return {"result_": pset["a"] * pset["b"]}


if __name__ == "__main__":
    first = ps.pgrid(ps.plist("a", [1, 2, 3]), ps.plist("b", [8, 9]))
    df = ps.run(func, first, calc_dir=CALC_DIR)

    second = ps.pgrid(ps.plist("a", [11, 22]), ps.plist("b", [88, 99]))
    df = ps.run(func, second, calc_dir=CALC_DIR)

    df = ps.run(func, first, calc_dir=CALC_DIR, skip_dups=True)
    cols = ["_run_seq", "_pset_seq", "_run_id", "_pset_hash", "a", "b", "result_"]
    ps.df_print(df, cols=cols)
