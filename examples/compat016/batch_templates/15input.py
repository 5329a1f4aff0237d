"""Add psets to the batch study of ``10input.py``.

Written for psweep 0.16. The new ``calc/run_<m>.sh`` comments out the jobs of
earlier runs, so running it again starts only the new ones. ``skip_dups=True``
(passed on to ``ps.run``) drops ``param_a=3, param_b=99``, which is already
in the database.

Run it after ``10input.py`` and its jobs, in this directory::

    python 15input.py
    sh calc/run_local.sh
"""

import psweep as ps

if __name__ == "__main__":
    params = ps.pgrid(ps.plist("param_a", [3, 5, 6]), ps.plist("param_b", [99]))
    df = ps.prep_batch(params, skip_dups=True)
    ps.df_print(df, cols=["param_a", "param_b", "_run_seq", "_pset_seq", "_pset_id"])
