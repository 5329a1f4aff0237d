"""Repeat a study with identical psets to collect more samples.

Workflow: call ``ps.run_local`` twice with the same params. Both calls append
to ``calc/database.pk``. Each call gets its own ``_run_id``, each row its own
``_pset_id``, but ``_pset_sha1`` (a hash of the pset's parameter values) is the
same for repeated psets, so grouping by it collects all repetitions of one
pset, e.g. to average a noisy measurement.

Run it in any directory (it writes ``calc/`` there)::

    python vary_1_param_repeat_same.py
"""

import random

import psweep as ps


def func(pset: dict) -> dict:
    """A noisy measurement of 2 * a."""
    return {"result": 2 * pset["a"] + random.gauss(0, 0.1)}


if __name__ == "__main__":
    params = ps.plist("a", [1, 2, 3])
    ps.run_local(func, params)
    df = ps.run_local(func, params)

    ps.df_print(df, cols=["_run_seq", "_pset_seq", "_pset_sha1", "a", "result"])
    print(f"\n{df._run_id.nunique()} runs, {df._pset_sha1.nunique()} distinct psets")

    print("\nresult averaged over repetitions of the same pset:")
    means = df.groupby("_pset_sha1").agg(a=("a", "first"), mean=("result", "mean"))
    print(means.sort_values("a"))
