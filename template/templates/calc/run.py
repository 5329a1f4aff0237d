"""Batch job of one pset: psweep.prep_batch fills in the $$name placeholders.

Runs inside batch/<_pset_id>/ and writes result.json, which
`python batch.py --collect` merges into batch/database.pk. The model is the one
of func() in input.py (tests/test_study.py checks that both agree).
"""

import json
import math

omega = $omega
zeta = $zeta

amplitude = 1.0 / math.hypot(1.0 - omega**2, 2.0 * zeta * omega)
phase = math.atan2(2.0 * zeta * omega, 1.0 - omega**2)
with open("result.json", "w") as fh:
    json.dump({"amplitude": amplitude, "phase": phase}, fh)
print(f"pset $_pset_id ($damper, omega={omega}): amplitude={amplitude:.4f}")
