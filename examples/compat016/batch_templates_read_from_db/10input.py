"""Batch jobs that look up their pset in the database instead of having it filled in.

Written for psweep 0.16. The calc template uses only ``{{_pset_id}}`` and
reads the values with ``ps.df_extract_pset(ps.df_read("../database.pk"),
pset_id)``, so a template never has to know the parameter names.
``write_pset=True`` also pickles each pset to ``calc/<_pset_id>/pset.pk``.

Run it in this directory, then the jobs and the evaluation::

    python 10input.py
    sh calc/run_local.sh
    python 20eval.py
"""

import psweep as ps

if __name__ == "__main__":
    params = ps.pgrid(ps.plist("param_a", [1, 2, 3]), ps.plist("param_b", [88]))
    df = ps.prep_batch(params, write_pset=True)
    ps.df_print(df, cols=["param_a", "param_b", "_pset_id"])
