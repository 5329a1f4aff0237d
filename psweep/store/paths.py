"""Where a study's files are: :class:`StudyPaths` names each of them, in one place.

A study keeps, in its calc dir (or in `database_dir`, where that is given)::

    <calc_dir>/<_pset_id>/...          what func writes for each pset
    <database_dir>/database.pk         the database (.parquet, .pq, .json: other formats)
    <database_dir>/runs.pk             the runs table (psweep.df_runs)
    <database_dir>/runs.json           the same as plain JSON, which psweep status reads
    <database_dir>/.psweep/            psweep's running state, never copied or committed:
        journal/<_run_id>/             the journal of a run that is going on (or crashed)
        <database_basename>.lock       the lock of the database's writers
        pull/                          a remote database and runs table while a pull merges them

and beside the calc dir ``<calc_dir>.simulate/`` (a simulated run) and
``<calc_dir>.bak_<UTC time>Z_run_id_<_run_id>/`` (backups). Every module asks
:class:`StudyPaths` for these names instead of joining them itself, so that
``calc_dir="calc/"`` and ``calc_dir="calc"`` are one study everywhere.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Any

from psweep.errors import PsweepDatabaseError

__all__ = [
    "DATABASE_BASENAME",
    "DATABASE_BASENAMES",
    "DATABASE_FORMATS",
    "PSWEEP_DIRNAME",
    "RUNS_BASENAME",
    "RUNS_JSON_BASENAME",
    "SUFFIX_FORMATS",
    "StudyPaths",
    "database_format",
]

#: The file name of a study's database in its ``calc_dir`` by default.
DATABASE_BASENAME = "database.pk"
#: the database's usual file name in each format (pickle, Parquet twice, JSON)
DATABASE_BASENAMES = ("database.pk", "database.parquet", "database.pq", "database.json")
#: the formats of a database file (psweep.store.database reads and writes them)
DATABASE_FORMATS = ("pickle", "json", "parquet")
#: the format each suffix of a database file name says (any other suffix: pickle)
SUFFIX_FORMATS = {".json": "json", ".parquet": "parquet", ".pq": "parquet"}
RUNS_BASENAME = "runs.pk"
RUNS_JSON_BASENAME = "runs.json"  # the runs table in plain JSON (psweep.store.runs_json)
PSWEEP_DIRNAME = ".psweep"
RUN_LOCK_BASENAME = "run.lock"
JOURNAL_DIRNAME = "journal"
PULL_DIRNAME = "pull"
SIMULATE_SUFFIX = ".simulate"
BACKUP_INFIX = ".bak_"
_PARTIAL_INFIX = ".partial-"
_MAKING_INFIX = ".new-"  # a journal folder being made: .<run_id>.new-<pid>
_GITIGNORE = "# locks and journals of running psweep studies\n*\n"


def _normalised(path: Any) -> str:
    """`path` as text, once and for all: ``calc/``, ``./calc`` and ``calc`` are ``calc``."""
    return os.path.normpath(os.fspath(path))


def database_format(fn: Any, fmt: str | None = None) -> str:
    """The format of database file `fn`: `fmt` if given, else from the file name."""
    if fmt is None:
        return SUFFIX_FORMATS.get(os.path.splitext(os.fspath(fn))[1].lower(), "pickle")
    if fmt not in DATABASE_FORMATS:
        raise PsweepDatabaseError(
            f"unknown database format fmt={fmt!r}; valid: {', '.join(DATABASE_FORMATS)}"
        )
    return fmt


@dataclass(frozen=True, init=False)
class StudyPaths:
    """The files and folders of one study, from its calc dir and database name.

    Parameters
    ----------
    calc_dir
        The study's calc dir, as given to :func:`psweep.run_local`; kept normalised
        (``"calc/"`` is ``"calc"``).
    database_basename
        The database's file name; its suffix says its format (:func:`psweep.df_read`).
    database_dir
        The folder of the database, its runs table and ``.psweep/``; None for
        `calc_dir`.

    Examples
    --------
    >>> from psweep.store.paths import StudyPaths
    >>> paths = StudyPaths("calc/", "database.parquet")
    >>> paths.calc_dir, paths.database, paths.database_format
    ('calc', 'calc/database.parquet', 'parquet')
    >>> paths.run_journal("f00")
    'calc/.psweep/journal/f00'
    >>> paths.simulated().database
    'calc.simulate/database.parquet'
    """

    calc_dir: str
    database_basename: str
    database_dir: str

    def __init__(
        self,
        calc_dir: str | os.PathLike,
        database_basename: str = DATABASE_BASENAME,
        database_dir: str | os.PathLike | None = None,
    ) -> None:
        calc_dir = _normalised(calc_dir)
        database_dir = calc_dir if database_dir is None else _normalised(database_dir)
        # frozen: the fields are set once, here
        object.__setattr__(self, "calc_dir", calc_dir)
        object.__setattr__(self, "database_basename", database_basename)
        object.__setattr__(self, "database_dir", database_dir)

    @classmethod
    def of_database(cls, database_fn: Any) -> StudyPaths:
        """The paths of the study whose database file is `database_fn` (its folder is
        taken for the calc dir)."""
        folder, basename = os.path.split(os.fspath(database_fn))
        return cls(folder or ".", basename)

    # -- the database and its neighbours ---------------------------------------------

    @property
    def database(self) -> str:
        """The database file."""
        return os.path.join(self.database_dir, self.database_basename)

    @property
    def database_format(self) -> str:
        """The format of the database file: ``pickle``, ``parquet`` or ``json``."""
        return database_format(self.database)

    @property
    def runs_table(self) -> str:
        """The runs table (:func:`psweep.df_runs`), beside the database, always a pickle."""
        return os.path.join(self.database_dir, RUNS_BASENAME)

    @property
    def runs_json(self) -> str:
        """The runs table as plain JSON (:mod:`psweep.store.runs_json`), beside runs.pk."""
        return os.path.join(self.database_dir, RUNS_JSON_BASENAME)

    def unsaved_rows(self, run_id: str) -> str:
        """The pickle beside the database that keeps the rows of run `run_id` which its
        format could not hold."""
        return f"{self.database}.unsaved-{run_id}.pk"

    def database_files(self) -> list[str]:
        """The database files that exist in the database's folder: this study's name
        and the usual name of every format (:data:`DATABASE_BASENAMES`)."""
        names = dict.fromkeys([self.database_basename, *DATABASE_BASENAMES])
        found = (os.path.join(self.database_dir, name) for name in names)
        return [path for path in found if os.path.isfile(path)]

    def kept_on_pull(self) -> list[str]:
        """What a pull must not copy over, relative to the calc dir: psweep's running
        state, the database files of every format and the runs table (the pull merges
        the remote ones into them instead)."""
        names = dict.fromkeys([self.database_basename, *DATABASE_BASENAMES, RUNS_BASENAME])
        return [PSWEEP_DIRNAME + "/", *names]

    # -- psweep's running state: .psweep/ ---------------------------------------------

    @property
    def psweep_dir(self) -> str:
        """``.psweep/`` beside the database: journals, locks, pulls being merged."""
        return os.path.join(self.database_dir, PSWEEP_DIRNAME)

    @property
    def journal_root(self) -> str:
        """The folder of the journals of runs (one folder per run)."""
        return os.path.join(self.psweep_dir, JOURNAL_DIRNAME)

    def run_journal(self, run_id: str) -> str:
        """The journal folder of run `run_id`."""
        return os.path.join(self.journal_root, run_id)

    def run_journal_making(self, run_id: str, pid: int) -> str:
        """The name under which process `pid` makes and locks the journal folder of run
        `run_id` before it renames it to :meth:`run_journal`. Hidden (a leading dot), so
        that another process's recovery never takes it for a crashed run."""
        return os.path.join(self.journal_root, f".{run_id}{_MAKING_INFIX}{pid}")

    def journals_being_made(self) -> list[tuple[str, int | None]]:
        """The journal folders being made (or left half made by a kill) and the pid of
        each one's maker."""
        pattern = os.path.join(glob.escape(self.journal_root), f".*{_MAKING_INFIX}*")
        out = []
        for path in glob.glob(pattern):
            pid = path.rsplit(_MAKING_INFIX, 1)[1]
            out.append((path, int(pid) if pid.isdigit() else None))
        return out

    @staticmethod
    def run_lock(run_journal: str) -> str:
        """The lock that a run holds in its journal folder while it goes on (recovery
        leaves the journal of a locked run alone)."""
        return os.path.join(run_journal, RUN_LOCK_BASENAME)

    @property
    def lock(self) -> str:
        """The lock file that every writer of the database holds."""
        return os.path.join(self.psweep_dir, f"{self.database_basename}.lock")

    @property
    def pull_staging(self) -> str:
        """Where a pull puts the remote database and runs table before merging them."""
        return os.path.join(self.psweep_dir, PULL_DIRNAME)

    @staticmethod
    def running_state(names: list[str]) -> list[str]:
        """Those of `names` (in ``.psweep/``) that belong to runs and pulls going on now,
        not to a copy of the study (a backup): the journals, a pull's staging folder and
        the locks."""
        transient = (JOURNAL_DIRNAME, PULL_DIRNAME)
        return [name for name in names if name in transient or name.endswith(".lock")]

    def make_psweep_dir(self) -> str:
        """Create ``.psweep/`` (with a .gitignore that keeps it out of git) if need be;
        return it."""
        path = self.psweep_dir
        if not os.path.isdir(path):
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, ".gitignore"), "w") as fh:
                fh.write(_GITIGNORE)
        return path

    # -- beside the calc dir: simulate, backups ---------------------------------------

    @property
    def simulate_dir(self) -> str:
        """``<calc_dir>.simulate``: where a simulated run works."""
        return self.calc_dir + SIMULATE_SUFFIX

    def simulated(self) -> StudyPaths:
        """The paths of this study's simulated run: all in :attr:`simulate_dir`."""
        return StudyPaths(self.simulate_dir, self.database_basename)

    def backup_dir(self, stamp: str, last_run_id: str) -> str:
        """``<calc_dir>.bak_<stamp>Z_run_id_<last_run_id>``, a backup of the calc dir."""
        return f"{self.calc_dir}{BACKUP_INFIX}{stamp}Z_run_id_{last_run_id}"

    @staticmethod
    def partial_backup(backup_dir: str, pid: int) -> str:
        """The name of `backup_dir` while process `pid` copies it."""
        return f"{backup_dir}{_PARTIAL_INFIX}{pid}"

    def partial_backups(self) -> list[tuple[str, int | None]]:
        """The backups being copied (or cut short) and the pid of each one's writer."""
        pattern = f"{glob.escape(self.calc_dir)}{BACKUP_INFIX}*{_PARTIAL_INFIX}*"
        out = []
        for path in glob.glob(pattern):
            pid = path.rsplit(_PARTIAL_INFIX, 1)[1]
            out.append((path, int(pid) if pid.isdigit() else None))
        return out

    @property
    def database_in_calc_dir(self) -> bool:
        """Whether the database's folder is the calc dir or inside it (so that a copy
        of the calc dir holds the database)."""
        calc, db = os.path.realpath(self.calc_dir), os.path.realpath(self.database_dir)
        return os.path.commonpath([calc, db]) == calc
