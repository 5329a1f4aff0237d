"""Where the batch jobs are: ``calc/`` (prep_batch's default) or a study's ``batch/``.

A study made by ``psweep new`` keeps its batch jobs apart from ``calc/``, in
:data:`STUDY_BATCH_DIR` (its ``batch.py`` passes it to prep_batch as
`calc_dir`). The commands that work on batch jobs look in both places when
they are not told where (:func:`find_batch_dir`).
"""

from __future__ import annotations

import os
import re

from psweep.constants import CALC_DIR
from psweep.errors import PsweepTemplateError

__all__ = [
    "BATCH_DIR_CANDIDATES",
    "RESULT_BASENAME",
    "STUDY_BATCH_DIR",
    "SUBMIT_FILES",
    "find_batch_dir",
    "submit_script_dirs",
]

#: The folder of the batch jobs in a study made by ``psweep new`` (``batch.py`` uses it).
STUDY_BATCH_DIR = "batch"

#: Where the commands look for submit scripts when no folder is given, in this order.
BATCH_DIR_CANDIDATES = (CALC_DIR, STUDY_BATCH_DIR)

#: The files prep_batch writes into the batch folder to submit the jobs prepared there
#: (rsync patterns): ``run_<machine>.sh``, the array drivers and their pset lists. They
#: belong to the copy that prepared them, so a pull keeps the local ones.
SUBMIT_FILES = ("run_*.sh", "array_*")

#: The file a batch job writes in its pset's folder, ``<calc_dir>/<_pset_id>/result.json``:
#: collect_batch reads it, batch_states looks whether it is there.
RESULT_BASENAME = "result.json"

_RUN_SCRIPT = re.compile(r"run_.+\.sh\Z")


def submit_script_dirs(
    machine: str | None = None, candidates: tuple[str, ...] = BATCH_DIR_CANDIDATES
) -> list[str]:
    """The `candidates` that hold ``run_<machine>.sh`` (with `machine` None: any ``run_*.sh``)."""
    found = []
    for folder in candidates:
        if machine is not None:
            has = os.path.isfile(os.path.join(folder, f"run_{machine}.sh"))
        else:
            try:
                has = any(_RUN_SCRIPT.match(n) for n in os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                has = False
        if has:
            found.append(folder)
    return found


def find_batch_dir(
    machine: str | None = None, candidates: tuple[str, ...] = BATCH_DIR_CANDIDATES
) -> str:
    """The one folder of `candidates` with ``run_<machine>.sh`` (any ``run_*.sh`` if None).

    Raises :class:`PsweepTemplateError` (a ValueError) naming the folders it
    looked in when none has the script, or both when more than one has it.
    """
    script = f"run_{machine}.sh" if machine is not None else "run_<machine>.sh"
    found = submit_script_dirs(machine, candidates)
    if len(found) == 1:
        return found[0]
    if found:
        choices = " or ".join(f"--calc-dir {d}" for d in found)
        raise PsweepTemplateError(
            f"{script} is in more than one folder ({', '.join(f'{d}/' for d in found)}); "
            f"say which with {choices} (calc_dir= in Python)"
        )
    looked = ", ".join(f"{d}/" for d in candidates)
    raise PsweepTemplateError(
        f"no submit script {script} in {looked} (looked there); prepare the jobs first "
        f"(ps.prep_batch, or python batch.py in a study) or give their folder with --calc-dir "
        f"DIR, e.g. --calc-dir {STUDY_BATCH_DIR} (calc_dir= in Python)"
    )


def other_dirs_hint(machine: str, calc_dir: str) -> str:
    """``"; batch/run_<m>.sh exists: ..."`` when another candidate has the script, else ``""``."""
    others = [
        d for d in submit_script_dirs(machine) if os.path.realpath(d) != os.path.realpath(calc_dir)
    ]
    if not others:
        return ""
    return (
        f"; {others[0]}/run_{machine}.sh exists: give that folder, "
        f"calc_dir={others[0]!r} (--calc-dir {others[0]})"
    )
