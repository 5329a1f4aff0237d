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

# Each name is imported from its module on first use (psweep.lazynames): psweep status
# asks psweep.batch.layout where the batch jobs are without loading the database code.
from psweep.lazynames import lazy_names as _lazy_names

# public name -> the module it is imported from
_HOME = {
    "BATCH_DIR_CANDIDATES": "psweep.batch.layout",
    "BATCH_STATES": "psweep.batch.states",
    "MACHINE_KEYS": "psweep.batch.machines",
    "RESULT_BASENAME": "psweep.batch.layout",
    "STUDY_BATCH_DIR": "psweep.batch.layout",
    "TEMPLATE_MODES": "psweep.batch.templates",
    "FileTemplate": "psweep.batch.templates",
    "Machine": "psweep.batch.machines",
    "batch_state_summary": "psweep.batch.states",
    "batch_states": "psweep.batch.states",
    "check_machine_name": "psweep.batch.machines",
    "collect_batch": "psweep.batch.collection",
    "find_batch_dir": "psweep.batch.layout",
    "gather_calc_templates": "psweep.batch.templates",
    "gather_machines": "psweep.batch.machines",
    "machine_info": "psweep.batch.machines",
    "prep_batch": "psweep.batch.preparation",
    "resubmit_batch": "psweep.batch.resubmit",
    "template_mode_of": "psweep.batch.templates",
    "_site_max_array_size": "psweep.batch.preparation",  # for tests/test_slurm.py
}

__all__ = [name for name in _HOME if not name.startswith("_")]

__getattr__, __dir__ = _lazy_names(__name__, _HOME)
