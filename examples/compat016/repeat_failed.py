"""Find the psets that failed and run only those again, with a fixed func.

Written for psweep 0.16. ``safe_func`` turns an exception into the book-keeping
columns ``_failed`` and ``_exc_txt`` instead of stopping the whole run. The
second run takes the parameters of the failed rows with
``ps.df_extract_params``, drops those with a ``_pset_hash`` that succeeded
before (``ps.filter_params_dup_hash``) and runs the rest again. Their
``_pset_hash`` is the same as before, so each failed pset now also has a row
that is done.

Run it in this directory::

    python repeat_failed.py
"""

import traceback
from functools import partial

import psweep as ps

# Each script of this folder keeps its own database.
CALC_DIR = "calc/repeat_failed"


def safe_func(pset, *, func):
    try:
        ret = func(pset)
    except Exception:
        txt = traceback.format_exc()
        print(txt)
        return {"_failed": True, "_exc_txt": txt}
    return {**ret, "_failed": False, "_exc_txt": None}


def buggy(pset):
    if pset["a"] % 3 == 0:
        raise RuntimeError(f"cannot handle a={pset['a']}")
    return {"result_": 10 * pset["a"]}


def fixed(pset):
    return {"result_": 10 * pset["a"]}


if __name__ == "__main__":
    cols = ["a", "result_", "_failed", "_pset_hash", "_run_seq"]

    # range() gives Python ints; np.arange would give np.int64 values, and
    # those hash differently.
    params = ps.plist("a", list(range(7)))
    df = ps.run(partial(safe_func, func=buggy), params, calc_dir=CALC_DIR, capture_logs="db")
    ps.df_print(df, cols=cols)

    # Failed psets that never succeeded, also when this script ran before.
    failed = ps.df_extract_params(df[df._failed.isin([True])])
    done = df[df._failed.isin([False])]._pset_hash
    params_again = ps.filter_params_unique(ps.filter_params_dup_hash(failed, done))
    print(f"{len(params_again)} psets failed, running them again")
    if params_again:
        df = ps.run(
            partial(safe_func, func=fixed), params_again, calc_dir=CALC_DIR, capture_logs="db"
        )
        ps.df_print(df, cols=cols)
