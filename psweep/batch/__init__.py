"""Batch jobs from templates: one folder per pset, a submit script per machine.

Layout (psweep 0.7.0)::

    templates/calc/...                  files copied into every pset folder
    templates/machines/<m>/jobscript    job script of machine <m>
    templates/machines/<m>/info.yaml    settings of machine <m> (subcmd, ...)

:func:`prep_batch` renders them into ``<calc_dir>/<_pset_id>/`` and writes
``<calc_dir>/run_<m>.sh``; :func:`collect_batch` reads the ``result.json``
files the jobs write back into the database.
"""

from .collection import RESULT_BASENAME, collect_batch
from .machines import MACHINE_KEYS, Machine, check_machine_name, machine_info
from .preparation import _site_max_array_size as _site_max_array_size  # tests/test_slurm.py
from .preparation import prep_batch
from .templates import PsweepTemplateError

__all__ = [
    "MACHINE_KEYS",
    "RESULT_BASENAME",
    "Machine",
    "PsweepTemplateError",
    "check_machine_name",
    "collect_batch",
    "machine_info",
    "prep_batch",
]
