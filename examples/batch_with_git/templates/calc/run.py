"""Job of one pset: filled in by psweep.prep_batch, run inside calc/<_pset_id>/."""

import json
import math

# $$name placeholders are filled with the pset's values; $$$$ is a literal $$
amplitude = $amplitude
damping = $damping
pset_id = "$_pset_id"

energy = 0.5 * amplitude**2 * math.exp(-2 * damping)
with open("result.json", "w") as fh:
    json.dump({"energy": energy}, fh)
print(f"pset {pset_id}: energy={energy:.4f}")
