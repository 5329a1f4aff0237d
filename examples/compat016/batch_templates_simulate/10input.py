"""Prepare a batch study; ``15input.py`` then tries an extension as a dry run.

Written for psweep 0.16: ``ps.prep_batch`` with jinja templates
(``template_mode="jinja"``, the default, written out).

Run it in this directory, then the jobs, the evaluation and the dry run::

    python 10input.py
    sh calc/run_local.sh
    python 20eval.py
    python 15input.py
"""

import psweep as ps

if __name__ == "__main__":
    params = ps.pgrid(ps.plist("param_a", [1, 2, 3]), ps.plist("param_b", [88, 99]))
    df = ps.prep_batch(params, template_mode="jinja")
    ps.df_print(df, cols=["param_a", "param_b", "_run_seq", "_pset_seq"])
