"""Label runs with a constant "study" parameter for easy post-processing.

Workflow: a coarse scan of ``a`` is followed by a fine scan around the
interesting region, both appended to ``calc/database.pk`` while ``b`` stays
constant. A constant parameter ``study`` (a plist of length one) names each
scan, so later we select rows with ``df[df.study == "fine"]`` instead of
remembering ``_run_id`` values. ``ps.df_filter_conds`` combines several such
conditions (logical and), handy when the conditions are built in a loop.

Run it in any directory (it writes ``calc/`` there)::

    python vary_1_param_study_column.py
"""

import psweep as ps


def func(pset: dict) -> dict:
    # A dip at a = 5 that the fine scan resolves.
    return {"result": (pset["a"] - 5) ** 2 + pset["b"]}


if __name__ == "__main__":
    b = ps.plist("b", [0.5])

    a_coarse = ps.plist("a", [0, 2.5, 5, 7.5, 10])
    ps.run_local(func, ps.pgrid(a_coarse, b, ps.plist("study", ["coarse"])))

    a_fine = ps.plist("a", [4, 4.5, 5, 5.5, 6])
    df = ps.run_local(func, ps.pgrid(a_fine, b, ps.plist("study", ["fine"])))

    print("all rows:")
    ps.df_print(df, cols=["_run_seq", "study", "a", "b", "result"])

    print('\nrows of the fine scan, df[df.study == "fine"]:')
    ps.df_print(df[df.study == "fine"])

    conds = [df.study == "fine", df.a >= 5, df.b == 0.5]
    print("\nps.df_filter_conds(df, [fine scan, a >= 5, b == 0.5]):")
    ps.df_print(ps.df_filter_conds(df, conds))
