"""The package's flat API (psweep/__init__.py): every public name, each loaded on first use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import psweep

# what `import psweep` must leave for later: pandas and numpy (the commands, in psweep.cli,
# start without them), batch jobs, reports, study templates, git, dask, plots, progress
# bars, locks (a run that saves takes the lock, and imports it then)
NOT_ON_IMPORT = [
    "pandas",
    "numpy",
    "psweep.lifecycle.runner",
    "psweep.batch",
    "psweep.observe",
    "psweep.observe.reporting",
    "psweep.study.new",
    "psweep.study.update",
    "psweep.cli",
    "matplotlib",
    "git",
    "copier",
    "dask",
    "distributed",
    "yaml",
    "jinja2",
    "tqdm",
    "filelock",
]


def _fresh(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return proc.stdout


def test_import_loads_only_what_a_run_needs() -> None:
    """A fresh ``import psweep`` loads none of psweep's modules, nor pandas: each public
    name loads its module when it is first used."""
    code = (
        "import json, sys; import psweep; "
        f"print(json.dumps([m for m in {NOT_ON_IMPORT!r} if m in sys.modules]))"
    )
    assert json.loads(_fresh(code)) == []


def test_run_local_needs_nothing_more() -> None:
    """plist, pgrid, run_local, df_read and df_write work right after the import, and a run
    still leaves batch, report, study templates and dask unloaded (git it loads: the runs
    table records the commit of the working directory)."""
    code = (
        "import json, os, sys, tempfile; import psweep as ps\n"
        "calc = os.path.join(tempfile.mkdtemp(), 'calc')\n"
        "df = ps.run_local(lambda p: {'r': p['a']}, ps.pgrid(ps.plist('a', [1, 2]), "
        "ps.plist('b', [3])), calc_dir=calc, progress=False)\n"
        "ps.df_write(ps.df_read(os.path.join(calc, 'database.pk')), calc + '/copy.pk')\n"
        "print(json.dumps([len(df), [m for m in ['psweep.batch', 'psweep.observe.reporting', "
        "'psweep.study.new', 'dask', 'matplotlib', 'copier'] if m in sys.modules]]))"
    )
    assert json.loads(_fresh(code)) == [2, []]


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    """Each name of ``__all__`` is there on first use, also with ``from psweep import``."""
    code = (
        "import psweep\n"
        "missing = [n for n in psweep.__all__ if getattr(psweep, n, None) is None "
        "and n != 'FILL_VALUE']\n"  # FILL_VALUE is pd.NA, not None
        "exec('from psweep import ' + ', '.join(psweep.__all__))\n"
        "print(missing)"
    )
    assert _fresh(code).strip() == "[]"


def test_public_names_are_their_homes_objects() -> None:
    """``psweep.X`` is the very object that X's module defines (one home per name)."""
    import importlib

    for name, module in psweep._HOME.items():
        assert getattr(psweep, name) is getattr(importlib.import_module(module), name), name


def test_all_and_dir_are_complete() -> None:
    """``__all__`` has no name twice, and ``dir(psweep)`` lists every public name before it
    is used."""
    assert len(set(psweep.__all__)) == len(psweep.__all__) == len(psweep._HOME)
    assert {"run_local", "plist", "report", "prep_batch", "new_study", "__version__"} <= set(
        psweep.__all__
    )
    out = _fresh("import psweep; print(sorted(set(psweep.__all__) - set(dir(psweep))))")
    assert out.strip() == "[]"


def test_unknown_name_is_an_attribute_error() -> None:
    """A name psweep does not have raises AttributeError naming it (so hasattr works)."""
    with pytest.raises(AttributeError, match="'no_such_name'"):
        psweep.no_such_name  # noqa: B018
    assert not hasattr(psweep, "no_such_name")


def test_subpackage_as_attribute() -> None:
    """``psweep.batch`` works after a bare ``import psweep``, as when it was imported eagerly."""
    code = "import psweep; print(psweep.batch.prep_batch is psweep.prep_batch)"
    assert _fresh(code).strip() == "True"
