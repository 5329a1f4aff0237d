"""psweep: set up and run parameter studies, and keep a database of the results.

Build params (lists of psets, which are dicts) with :func:`plist`,
:func:`pgrid` and friends, run a function over them with :func:`run_local`,
and get a pandas DataFrame with one row per pset.
"""

# Each public name is imported from its module when it is first used (PEP 562):
# ``import psweep`` itself loads nothing else, so that the commands (psweep.cli, inside
# this package) start without pandas, and ``ps.run_local`` loads the run's modules (pandas,
# numpy, params, store, lifecycle) but not batch, report, study templates, dask or
# matplotlib. _HOME is the one place that says where a public name lives; __all__
# follows from it.

from importlib import import_module as _import_module
from importlib.util import find_spec as _find_spec
from typing import Any as _Any

# public name -> the module it is imported from
_HOME = {
    "BATCH_STATES": "psweep.batch",
    "CALC_DIR": "psweep.constants",
    "DATABASE_BASENAME": "psweep.constants",
    "FILL_VALUE": "psweep.constants",
    "GIT_ADD_ALL": "psweep.constants",
    "JOURNAL_FLUSH_S": "psweep.lifecycle.journal",
    "ON_ERROR_CHOICES": "psweep.lifecycle.runner",
    "PANDAS_DEFAULT_ORIENT": "psweep.constants",
    "PANDAS_TIME_UNIT": "psweep.constants",
    "PSET_HASH_ALG": "psweep.constants",
    "RESERVED_COLUMNS": "psweep.lifecycle.runner",
    "DfComparison": "psweep.observe.compare",
    "FileTemplate": "psweep.batch",
    "Machine": "psweep.batch",
    "PgridError": "psweep.errors",
    "PsweepCommandError": "psweep.errors",
    "PsweepDatabaseError": "psweep.errors",
    "PsweepError": "psweep.errors",
    "PsweepFormatError": "psweep.errors",
    "PsweepFuncError": "psweep.errors",
    "PsweepGitError": "psweep.errors",
    "PsweepHashError": "psweep.errors",
    "PsweepJournalWarning": "psweep.errors",
    "PsweepLockError": "psweep.errors",
    "PsweepParamsError": "psweep.errors",
    "PsweepPinError": "psweep.errors",
    "PsweepStudyError": "psweep.errors",
    "PsweepTemplateError": "psweep.errors",
    "PsweepTemplateRepoError": "psweep.errors",
    "PsweepTimeout": "psweep.errors",
    "PsweepUpdateError": "psweep.errors",
    "PsweepWorkerError": "psweep.errors",
    "__version__": "psweep.version",
    "batch_state_summary": "psweep.batch",
    "batch_states": "psweep.batch",
    "capture_logs_wrapper": "psweep.lifecycle.wrappers",
    "check_calc_dir": "psweep.store.files",
    "collect_batch": "psweep.batch",
    "df_compare": "psweep.observe.compare",
    "df_ensure_dtypes": "psweep.store.columns",
    "df_extract_dicts": "psweep.store.columns",
    "df_extract_params": "psweep.store.columns",
    "df_extract_pset": "psweep.store.columns",
    "df_extract_row": "psweep.store.columns",
    "df_filter_conds": "psweep.store.database",
    "df_print": "psweep.store.database",
    "df_read": "psweep.store.database",
    "df_runs": "psweep.observe.runstate",
    "df_to_json": "psweep.store.database",
    "df_update_pset_cols": "psweep.store.columns",
    "df_update_pset_hash": "psweep.store.columns",
    "df_write": "psweep.store.database",
    "file_read": "psweep.store.files",
    "file_write": "psweep.store.files",
    "filter_cols": "psweep.store.columns",
    "filter_params_dup_hash": "psweep.params.builders",
    "filter_params_unique": "psweep.params.builders",
    "filter_same_hash": "psweep.params.builders",
    "flatten": "psweep.params.builders",
    "flatten_dict": "psweep.params.builders",
    "fullpath": "psweep.store.files",
    "func_wrapper": "psweep.lifecycle.wrappers",
    "gather_calc_templates": "psweep.batch",
    "gather_machines": "psweep.batch",
    "get_many_uuids": "psweep.params.hashing",
    "get_uuid": "psweep.params.hashing",
    "git_clean": "psweep.store.vcs",
    "git_enter": "psweep.store.vcs",
    "git_exit": "psweep.store.vcs",
    "in_git_repo": "psweep.store.vcs",
    "intspace": "psweep.params.builders",
    "is_seq": "psweep.params.builders",
    "itr": "psweep.params.builders",
    "itr2params": "psweep.params.builders",
    "json_read": "psweep.store.files",
    "json_write": "psweep.store.files",
    "label_axes": "psweep.observe.plotstyle",
    "logspace": "psweep.params.builders",
    "machine_info": "psweep.batch",
    "makedirs": "psweep.store.files",
    "merge_dicts": "psweep.params.builders",
    "new_study": "psweep.study.new",
    "pgrid": "psweep.params.builders",
    "pickle_read": "psweep.store.files",
    "pickle_write": "psweep.store.files",
    "pj": "psweep.constants",
    "plist": "psweep.params.builders",
    "plot_style": "psweep.observe.plotstyle",
    "prep_batch": "psweep.batch",
    "pset_hash": "psweep.params.hashing",
    "recover": "psweep.lifecycle.merge",
    "report": "psweep.observe.reporting",
    "resubmit_batch": "psweep.batch",
    "run": "psweep.lifecycle.runner",
    "run_local": "psweep.lifecycle.runner",
    "stargrid": "psweep.params.builders",
    "status": "psweep.observe.runstate",
    "system": "psweep.store.files",
    "update_study": "psweep.study.update",
}

__all__ = list(_HOME)  # the table's names, in its order


def __getattr__(name: str) -> _Any:
    """A public name (imported from its module on first use), or a subpackage."""
    module = _HOME.get(name)
    if module is None:
        if name.startswith("__") or _find_spec(f"{__name__}.{name}") is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return _import_module(f"{__name__}.{name}")
    value = getattr(_import_module(module), name)
    globals()[name] = value  # the next lookup finds it without this function
    return value


def __dir__() -> list[str]:
    """The public names and the subpackages, loaded or not, and what the package holds."""
    import pkgutil

    subpackages = (m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return sorted({*globals(), *__all__, *subpackages})
