"""``psweep update``: bring the study template of the running psweep into a study.

After installing a newer psweep (its ``psweep_kit-*.whl``, or ``git+URL@TAG``;
never ``pip install --upgrade psweep``, which installs another project of that
name from the package index), a study made by an older ``psweep new``
takes the newer template's changes with copier's three-way merge: what the
template changed arrives, what the user changed stays, and where both changed
the same lines copier marks the conflict in the file. It works offline: the
older template comes from the psweep wheel in the study's ``vendor/`` (see
:mod:`psweep.study.template_repo`). Then the running psweep's wheel replaces the old
one in ``vendor/`` and its pin in ``requirements.lock``.

A study copied with plain copier from a git URL is updated by ``copier update``
from that URL, as copier does.
"""

from __future__ import annotations

import hashlib
import re
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import yaml

from psweep.errors import PsweepError, PsweepUpdateError
from psweep.gitcmd import git
from psweep.study.installation import DIST_NAME, WHEEL_NAME
from psweep.study.pinning import LOCK_FILE, VENDOR_DIR, psweep_wheel, wheel_version
from psweep.study.template_repo import (
    TEMPLATE_URL,
    make_template_repo,
    serve_template_repo,
    template_files,
    template_files_of_wheel,
)

__all__ = ["update_study"]

ANSWERS = ".copier-answers.yml"


def _running_version() -> str:
    from psweep.version import __version__

    return __version__


def _answers(study: Path) -> dict[str, Any]:
    path = study / ANSWERS
    if not path.is_file():
        raise PsweepUpdateError(
            f"{str(study)!r} has no {ANSWERS}: it was not made from psweep's study template "
            "(psweep new), so there is nothing to update from"
        )
    with open(path) as fh:
        answers = yaml.safe_load(fh) or {}
    if not isinstance(answers, dict):
        raise PsweepUpdateError(f"{str(path)!r} does not hold copier's answers")
    return answers


def _require_clean_git(study: Path) -> None:
    proc = git(["status", "--porcelain", "--untracked-files=normal"], study)
    if proc.returncode != 0:
        raise PsweepUpdateError(
            f"{str(study)!r} is not a git repository: the update is a merge that git must be "
            "able to show and undo. Run git init && git add -A && git commit, then again"
        )
    if proc.stdout.strip():
        changed = ", ".join(line[3:] for line in proc.stdout.splitlines()[:5])
        raise PsweepUpdateError(
            f"{str(study)!r} has uncommitted changes ({changed}); commit or stash them first, "
            "so that the update can be reviewed and undone on its own"
        )


def _old_template(study: Path, old: str) -> dict[str, bytes]:
    """The template of psweep `old`: from its wheel in vendor/, or the running psweep's."""
    for wheel in _vendored_wheels(study / VENDOR_DIR):
        try:
            version = wheel_version(wheel)
        except PsweepError:
            continue
        if version == old:
            return template_files_of_wheel(wheel)
    raise PsweepUpdateError(
        f"the study was made from the template of psweep {old}, and {VENDOR_DIR}/ holds no "
        f"psweep {old} wheel to take it from. Put that wheel into {VENDOR_DIR}/ (from where "
        f"the study was made, or build it: pip wheel --no-deps -w {VENDOR_DIR} "
        f"git+URL@v{old} with the git URL of psweep), then run psweep update again"
    )


def _vendored_wheels(vendor: Path) -> list[Path]:
    """psweep's wheels in vendor/: psweep_kit-*.whl, and psweep-*.whl from before the rename."""
    return sorted([*vendor.glob(f"{WHEEL_NAME}-*.whl"), *vendor.glob("psweep-*.whl")])


def _repin(study: Path, wheel: Path) -> bool:
    """Point the psweep entry of requirements.lock at `wheel`; False if there is none."""
    lock = study / LOCK_FILE
    if not lock.is_file():
        return False
    text = lock.read_text()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    # psweep-kit==, or psweep== in the locks of studies made before the rename
    entry = re.compile(r"^psweep(?:-kit)?==\S+((?: \\\n[ \t]+--hash=sha256:[0-9a-f]+)+)", re.M)
    new, n = entry.subn(
        f"{DIST_NAME}=={wheel_version(wheel)} \\\n    --hash=sha256:{digest}", text, count=1
    )
    if n == 0:
        return False
    lock.write_text(new)
    return True


def _requires(wheel: Path) -> list[str]:
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    return sorted(line for line in lines if line.startswith("Requires-Dist:"))


def _copier_update(study: Path, data: dict[str, Any], vcs_ref: str | None, conflict: str) -> None:
    import copier
    import copier.errors

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", copier.errors.ShallowCloneWarning)
        copier.run_update(
            study,
            data=data,
            defaults=True,
            overwrite=True,
            unsafe=False,
            conflict=conflict,  # type: ignore[arg-type]
            vcs_ref=vcs_ref,
            quiet=False,
        )


def _conflicts(study: Path) -> list[str]:
    proc = git(["diff", "--name-only", "-G", "^<<<<<<< "], study)
    rej = git(["ls-files", "--others", "--exclude-standard", "*.rej"], study)
    return sorted(set(proc.stdout.split()) | set(rej.stdout.split()))


def update_study(study: str | Path = ".", conflict: str = "inline", out=sys.stdout) -> dict:
    """Merge the running psweep's study template into `study`; return what happened.

    The study must be a git repository without uncommitted changes. Returns a
    dict with ``old`` and ``new`` (template versions), ``changed`` (paths that
    differ from the last commit) and ``conflicts`` (paths with conflict
    markers, or ``.rej`` files with ``conflict="rej"``).
    """
    study = Path(study).absolute()
    answers = _answers(study)
    src, old = answers.get("_src_path"), answers.get("_commit")
    _require_clean_git(study)
    new = _running_version()
    if src != TEMPLATE_URL:
        if not src or not old or "site-packages" in str(src):
            raise PsweepUpdateError(
                f"{ANSWERS} of {str(study)!r} does not say which template version made the "
                f"study (_src_path={src!r}, _commit={old!r}): it was made by a psweep new "
                "older than psweep update. Make a new study with psweep new and move your "
                "files over, or, if you know the git URL and tag of the template it came "
                "from, run: copier update --vcs-ref TAG (with _src_path set to that URL)"
            )
        print(f"psweep update: copier update from {src} (copied from there)", file=out)
        _copier_update(study, {}, None, conflict)
        return _summary(study, old, None)
    old = str(old)
    if old == new:
        print(f"psweep update: {study.name} has the template of psweep {new} already", file=out)
        return {"old": old, "new": new, "changed": [], "conflicts": []}
    print(f"psweep update: template of psweep {old} -> {new}", file=out)
    from psweep.study.template_repo import template_source

    versions = [(old, _old_template(study, old)), (new, template_files(template_source()))]
    data = {"psweep_version": new} if "psweep_version" in answers else {}
    with tempfile.TemporaryDirectory(prefix="psweep-update-") as tmp:
        repo = make_template_repo(Path(tmp) / "template", versions)
        with serve_template_repo(repo):
            _copier_update(study, data, new, conflict)
    if not answers.get("psweep_requirement"):
        _replace_vendored(study, old, out)
    return _summary(study, old, new, out)


def _replace_vendored(study: Path, old: str, out) -> None:
    vendor = study / VENDOR_DIR
    olds = [w for w in _vendored_wheels(vendor) if wheel_version(w) == old]
    old_requires = _requires(olds[0]) if olds else None
    wheel = psweep_wheel(vendor)
    for stale in olds:
        if stale != wheel:
            stale.unlink()
    if _repin(study, wheel):
        print(f"psweep update: {LOCK_FILE} pins {wheel.name} now", file=out)
        if old_requires is not None and old_requires != _requires(wheel):
            print(
                f"psweep update: psweep's own requirements changed; run nox -s lock (online) "
                f"to pin them in {LOCK_FILE}",
                file=out,
            )


def _summary(study: Path, old: Any, new: Any, out=sys.stdout) -> dict:
    proc = git(["status", "--porcelain", "--untracked-files=all"], study)
    changed = sorted(line[3:] for line in proc.stdout.splitlines())
    conflicts = _conflicts(study)
    if conflicts:
        rejected = [c for c in conflicts if c.endswith(".rej")]
        how = []
        if len(rejected) < len(conflicts):
            how.append("in each file, keep what is right between the markers <<<<<<< ... >>>>>>>")
        if rejected:
            how.append(
                "each .rej file holds the change of yours that the template's version of its "
                "file could not take: apply it by hand, then delete the .rej file"
            )
        print(
            "psweep update: conflicts where your changes and the template's meet, in: "
            f"{', '.join(conflicts)}. Resolve them ({'; '.join(how)}), then run the tests "
            "and commit",
            file=out,
        )
    elif changed:
        print(
            f"psweep update: {len(changed)} files changed ({', '.join(changed[:8])}"
            f"{' ...' if len(changed) > 8 else ''}); review with git diff, run the tests, "
            'and commit: git add -A && git commit -m "psweep update"',
            file=out,
        )
    else:
        print("psweep update: nothing changed", file=out)
    return {"old": old, "new": new, "changed": changed, "conflicts": conflicts}
