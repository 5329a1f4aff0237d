"""psweep: set up and run parameter studies, and keep a database of the results.

Build params (lists of psets, which are dicts) with :func:`plist`,
:func:`pgrid` and friends, run a function over them with :func:`run_local`,
and get a pandas DataFrame with one row per pset.
"""

from .batch import PsweepTemplateError, collect_batch, machine_info, prep_batch
from .columns import (
    df_extract_dicts,
    df_extract_params,
    df_extract_pset,
    df_extract_row,
    filter_cols,
)
from .compare import DfComparison, df_compare
from .constants import (
    CALC_DIR,
    DATABASE_BASENAME,
    FILL_VALUE,
    GIT_ADD_ALL,
    PANDAS_DEFAULT_ORIENT,
    PANDAS_TIME_UNIT,
    PSET_HASH_ALG,
    pj,
)
from .database import df_filter_conds, df_print, df_read, df_to_json, df_write
from .errors import (
    PgridError,
    PsweepDatabaseError,
    PsweepError,
    PsweepFormatError,
    PsweepGitError,
    PsweepHashError,
    PsweepJournalWarning,
    PsweepLockError,
    PsweepParamsError,
)
from .execute import PsweepTimeout, PsweepWorkerError
from .files import (
    PsweepCommandError,
    check_calc_dir,
    file_read,
    file_write,
    fullpath,
    json_read,
    json_write,
    makedirs,
    pickle_read,
    pickle_write,
    system,
)
from .hashing import get_many_uuids, get_uuid, pset_hash
from .journal import JOURNAL_FLUSH_S
from .merge import recover
from .params import (
    filter_params_dup_hash,
    filter_params_unique,
    filter_same_hash,
    flatten,
    flatten_dict,
    intspace,
    is_seq,
    itr,
    itr2params,
    logspace,
    merge_dicts,
    pgrid,
    plist,
    stargrid,
)
from .provenance import df_runs
from .runner import ON_ERROR_CHOICES, RESERVED_COLUMNS, PsweepFuncError, run, run_local
from .study import PsweepStudyError, new_study
from .update import PsweepUpdateError, update_study
from .vcs import git_clean, git_enter, git_exit, in_git_repo

__version__ = "0.8.0.dev0"

__all__ = [
    "CALC_DIR",
    "DATABASE_BASENAME",
    "FILL_VALUE",
    "GIT_ADD_ALL",
    "JOURNAL_FLUSH_S",
    "ON_ERROR_CHOICES",
    "PANDAS_DEFAULT_ORIENT",
    "PANDAS_TIME_UNIT",
    "PSET_HASH_ALG",
    "RESERVED_COLUMNS",
    "DfComparison",
    "PgridError",
    "PsweepCommandError",
    "PsweepDatabaseError",
    "PsweepError",
    "PsweepFormatError",
    "PsweepFuncError",
    "PsweepGitError",
    "PsweepHashError",
    "PsweepJournalWarning",
    "PsweepLockError",
    "PsweepParamsError",
    "PsweepStudyError",
    "PsweepTemplateError",
    "PsweepTimeout",
    "PsweepUpdateError",
    "PsweepWorkerError",
    "__version__",
    "check_calc_dir",
    "collect_batch",
    "df_compare",
    "df_extract_dicts",
    "df_extract_params",
    "df_extract_pset",
    "df_extract_row",
    "df_filter_conds",
    "df_print",
    "df_read",
    "df_runs",
    "df_to_json",
    "df_write",
    "file_read",
    "file_write",
    "filter_cols",
    "filter_params_dup_hash",
    "filter_params_unique",
    "filter_same_hash",
    "flatten",
    "flatten_dict",
    "fullpath",
    "get_many_uuids",
    "get_uuid",
    "git_clean",
    "git_enter",
    "git_exit",
    "in_git_repo",
    "intspace",
    "is_seq",
    "itr",
    "itr2params",
    "json_read",
    "json_write",
    "logspace",
    "machine_info",
    "makedirs",
    "merge_dicts",
    "new_study",
    "pgrid",
    "pickle_read",
    "pickle_write",
    "pj",
    "plist",
    "prep_batch",
    "pset_hash",
    "recover",
    "run",
    "run_local",
    "stargrid",
    "system",
    "update_study",
]
