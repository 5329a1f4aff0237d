"""Batch jobs from templates: one folder per pset, a submit script per machine.

Layout (psweep 0.7.0 and 0.16)::

    templates/calc/...                  files copied into every pset folder
    templates/machines/<m>/jobscript    job script of machine <m>
    templates/machines/<m>/info.yaml    settings of machine <m> (subcmd, ...)

:func:`prep_batch` fills them (``$name`` or ``{{ name }}``, see
:class:`FileTemplate`) into ``<calc_dir>/<_pset_id>/`` and writes
``<calc_dir>/run_<m>.sh``; :func:`collect_batch` reads the ``result.json``
files the jobs write back into the database; :func:`batch_states` tells where
each job is and :func:`resubmit_batch` submits again those that did not deliver.
"""

from psweep.batch.collection import RESULT_BASENAME, collect_batch
from psweep.batch.layout import BATCH_DIR_CANDIDATES, STUDY_BATCH_DIR, find_batch_dir
from psweep.batch.machines import (
    MACHINE_KEYS,
    Machine,
    check_machine_name,
    gather_machines,
    machine_info,
)
from psweep.batch.preparation import (
    _site_max_array_size as _site_max_array_size,  # tests/test_slurm.py
)
from psweep.batch.preparation import prep_batch
from psweep.batch.resubmit import resubmit_batch
from psweep.batch.states import BATCH_STATES, batch_state_summary, batch_states
from psweep.batch.templates import (
    TEMPLATE_MODES,
    FileTemplate,
    gather_calc_templates,
    template_mode_of,
)

__all__ = [
    "BATCH_DIR_CANDIDATES",
    "BATCH_STATES",
    "MACHINE_KEYS",
    "RESULT_BASENAME",
    "STUDY_BATCH_DIR",
    "TEMPLATE_MODES",
    "FileTemplate",
    "Machine",
    "batch_state_summary",
    "batch_states",
    "check_machine_name",
    "collect_batch",
    "find_batch_dir",
    "gather_calc_templates",
    "gather_machines",
    "machine_info",
    "prep_batch",
    "resubmit_batch",
    "template_mode_of",
]
