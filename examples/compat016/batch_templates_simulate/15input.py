"""Dry run of an extension: new job directories go to ``calc.simulate/`` only.

Written for psweep 0.16. With ``simulate=True`` ``ps.prep_batch`` copies
``calc/database.pk`` to ``calc.simulate/``, adds the new psets there and
writes their job directories and ``run_local.sh`` there. ``calc/`` stays as
it was; look at ``calc.simulate/``, then run without ``simulate`` for real.

Run it after ``10input.py``, in this directory::

    python 15input.py
"""

import psweep as ps

if __name__ == "__main__":
    params = ps.pgrid(ps.plist("param_a", [5, 6]), ps.plist("param_b", [100]))
    df = ps.prep_batch(params, simulate=True)
    ps.df_print(df, cols=["param_a", "param_b", "_run_seq", "_pset_seq"])
