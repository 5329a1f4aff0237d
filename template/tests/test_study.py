"""Tests of the study's own code: python -m pytest tests (or nox -s test)."""

import importlib.util
import json
import math
import string
import subprocess
import sys
from pathlib import Path

import numpy as np

STUDY = Path(__file__).resolve().parents[1]


def load_input():
    spec = importlib.util.spec_from_file_location("study_input", STUDY / "input.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_func_at_resonance(tmp_path):
    """At omega = 1 the amplitude is 1 / (2 zeta) and the phase is pi / 2."""
    study = load_input()
    pset = {"omega": 1.0, "zeta": 0.2, "damper": "medium", "_calc_dir": str(tmp_path)}
    pset["_pset_id"] = "one-pset"
    result = study.func(pset)
    assert math.isclose(result["amplitude"], 2.5)
    assert math.isclose(result["phase"], math.pi / 2)
    t, x = np.load(tmp_path / "one-pset" / "data.npy")
    assert t[0] == 0.0
    assert math.isclose(np.abs(x).max(), result["amplitude"], rel_tol=1e-3)


def test_params_grid_and_zip():
    """Every omega is paired with each (damper, zeta) pair, and no pset twice."""
    params = load_input().make_params()
    pairs = {(p["damper"], p["zeta"]) for p in params}
    omegas = {p["omega"] for p in params}
    assert len(params) == len(pairs) * len(omegas)
    assert len({tuple(sorted(p.items())) for p in params}) == len(params)


def test_batch_job_agrees_with_func(tmp_path):
    """templates/calc/run.py, filled in for one pset, gives the same result as func."""
    study = load_input()
    pset = {"omega": 0.8, "zeta": 0.05, "damper": "weak", "_pset_id": "job"}
    text = (STUDY / "templates" / "calc" / "run.py").read_text()
    (tmp_path / "run.py").write_text(string.Template(text).substitute(pset))
    subprocess.run([sys.executable, "run.py"], cwd=tmp_path, check=True, capture_output=True)
    job = json.loads((tmp_path / "result.json").read_text())
    expected = study.func({**pset, "_calc_dir": str(tmp_path)})
    assert math.isclose(job["amplitude"], expected["amplitude"])
    assert math.isclose(job["phase"], expected["phase"])
