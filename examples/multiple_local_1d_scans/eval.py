"""Print the result of each 1d scan written by ``input.py``.

Workflow: read ``calc/database.pk`` and, for each value of the ``study``
column, select that scan's rows. Since the label is the name of the varied
parameter, it is also the column to show next to the result.

Run it in this directory after ``python input.py``::

    python eval.py
"""

import os

import psweep as ps

if __name__ == "__main__":
    df = ps.df_read(os.path.join("calc", "database.pk"))
    for study in df.study.unique():
        print(f"\nscan of {study!r}:")
        ps.df_print(df[df.study == study], cols=[study, "period"])
