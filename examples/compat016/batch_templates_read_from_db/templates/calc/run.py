"""Job of one pset: only its _pset_id is filled in, the values come from the database."""

import numpy as np

import psweep as ps

pset = ps.df_extract_pset(ps.df_read("../database.pk"), "{{_pset_id}}")
# prep_batch(..., write_pset=True) also left the pset with its book-keeping keys here.
stored = ps.pickle_read("pset.pk")
print(f"pset_id={stored['_pset_id']} _pset_hash={stored['_pset_hash']}: {pset}")

np.save("out.npy", np.array([pset["param_a"], pset["param_b"]]) * 0.5)
