"""DVC-tracked calc dirs: record calc/ in DVC's metadata, so that git=True commits it.

In a study whose ``calc/`` is kept by DVC (an output of a stage in
``dvc.yaml``, or ``calc.dvc`` from ``dvc add calc``), git holds only DVC's
metadata (``dvc.lock`` or ``calc.dvc``). After a run, ``dvc commit`` puts
``calc/`` as the run left it into DVC's cache and its hash into that
metadata; the commit that ``git=True`` makes then points at exactly this
state, and ``git checkout <commit> && dvc checkout`` brings it back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from psweep.errors import PsweepGitError

__all__ = ["dvc_commit", "dvc_tracked", "in_dvc_stage"]


def in_dvc_stage() -> bool:
    """Whether this process is a stage command run by ``dvc repro`` (DVC sets DVC_STAGE)."""
    return bool(os.environ.get("DVC_STAGE"))


def _stage_outs(dvc_yaml: Path) -> list[str]:
    import yaml  # here, not at the top: only a study tracked by DVC has a dvc.yaml to read

    try:
        conf = yaml.safe_load(dvc_yaml.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    outs = []
    for stage in (conf.get("stages") or {}).values():
        wdir = dvc_yaml.parent / str((stage or {}).get("wdir", "."))
        for out in (stage or {}).get("outs") or []:
            name = next(iter(out)) if isinstance(out, dict) else out
            outs.append(os.path.normpath(wdir / str(name)))
    return outs


def dvc_tracked(calc_dir: str | os.PathLike, repo_root: str | os.PathLike) -> bool:
    """Whether `calc_dir` is a DVC output of the DVC project at `repo_root`."""
    root = Path(repo_root)
    if not (root / ".dvc").is_dir():
        return False
    calc = Path(os.path.abspath(calc_dir))
    if Path(f"{calc}.dvc").is_file():
        return True
    # dvc.yaml files in the folders from calc_dir's parent up to the root (not a walk of
    # the whole tree, which may hold a calc dir of many thousand folders)
    root = root.resolve()
    folders = [p for p in calc.resolve().parents if p == root or root in p.parents]
    outs = {out for folder in folders for out in _stage_outs(folder / "dvc.yaml")}
    return os.path.normpath(calc.resolve()) in {os.path.normpath(Path(o).resolve()) for o in outs}


def dvc_commit(calc_dir: str | os.PathLike, repo_root: str | os.PathLike) -> None:
    """Record `calc_dir` as it is now in DVC's cache and metadata (``dvc commit --force``)."""
    cmd = [sys.executable, "-m", "dvc", "commit", "--force", "--quiet", os.path.abspath(calc_dir)]
    try:
        proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise PsweepGitError(f"git=True: could not run {' '.join(cmd)}: {exc}") from exc
    if proc.returncode != 0:
        text = (proc.stderr or proc.stdout).strip()
        if "No module named dvc" in text:
            text = "dvc is not installed in this Python; pip install dvc"
        raise PsweepGitError(
            f"git=True: {calc_dir!r} is tracked by DVC, but 'dvc commit' failed, so the run is "
            f"saved but not committed: {text}"
        )
