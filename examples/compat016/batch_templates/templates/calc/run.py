"""Job of one pset, written by psweep.prep_batch into calc/<_pset_id>/run.py."""

import numpy as np

param_a = {{param_a}}
param_b = {{param_b}}
print("pset_id={{_pset_id}} run_id={{_run_id}}: param_a={{param_a}} param_b={{param_b}}")

np.save("out.npy", np.array([param_a, param_b]) * 0.5)
