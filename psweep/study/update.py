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

A study that installs psweep from its ``psweep_requirement`` answer (``psweep-kit
@ git+URL@COMMIT``, or the URL of a wheel file) keeps that requirement unless
``requirement`` names a new one: then the new requirement's wheel, which must be
the running psweep, is built first (nothing changes if that fails), the answer
is changed with the template, and the wheel replaces the old one in ``vendor/``
and in ``requirements.lock``. Without it, psweep update says in one line that
the study still installs the old psweep, and the command that moves it.

A study copied with plain copier from a git URL is updated by ``copier update``
from that URL, as copier does.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import yaml

from psweep.atomicfile import atomic_open
from psweep.errors import PsweepError, PsweepPinError, PsweepUpdateError
from psweep.gitcmd import git
from psweep.study.installation import (
    DIST_NAME,
    REQUIREMENT_PATTERN,
    WHEEL_NAME,
    reinstall_source,
)
from psweep.study.pinning import (
    LOCK_FILE,
    NOXFILE,
    VENDOR_DIR,
    psweep_wheel,
    requirement_wheel,
    wheel_version,
)
from psweep.study.template_repo import (
    TEMPLATE_URL,
    make_template_repo,
    serve_template_repo,
    template_files,
    template_files_of_wheel,
)

__all__ = ["suggested_requirement", "update_study"]

ANSWERS = ".copier-answers.yml"
REQUIREMENT_KEY = "psweep_requirement"  # the template's question: how the study installs psweep
# psweep in a lock: psweep-kit==, or psweep== in the locks of studies made before the rename
_LOCK_ENTRY = re.compile(r"^psweep(?:-kit)?==(\S+)((?: \\\n[ \t]+--hash=sha256:[0-9a-f]+)+)", re.M)


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
    entry = f"{DIST_NAME}=={wheel_version(wheel)} \\\n    --hash=sha256:{digest}"
    new, n = _LOCK_ENTRY.subn(lambda _: entry, text, count=1)
    if n == 0:
        return False
    with atomic_open(lock, "w") as fh:
        fh.write(new)
    return True


def _locked_version(study: Path) -> str | None:
    """The version of psweep that requirements.lock pins, else of the wheel in vendor/."""
    lock = study / LOCK_FILE
    found = _LOCK_ENTRY.search(lock.read_text()) if lock.is_file() else None
    if found:
        return found.group(1)
    versions = []
    for wheel in _vendored_wheels(study / VENDOR_DIR):
        try:
            versions.append(wheel_version(wheel))
        except PsweepError:
            continue
    return versions[-1] if versions else None


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


def update_study(
    study: str | Path = ".",
    conflict: str = "inline",
    out=sys.stdout,
    requirement: str | None = None,
) -> dict:
    """Merge the running psweep's study template into `study`; return what happened.

    The study must be a git repository without uncommitted changes. A study
    that installs psweep from its ``psweep_requirement`` keeps it, unless
    `requirement` (``psweep-kit @ URL`` of the running psweep) replaces it: its
    wheel goes into ``vendor/`` and ``requirements.lock`` in place of the old
    one. Returns a dict with ``old`` and ``new`` (template versions),
    ``changed`` (paths that differ from the last commit) and ``conflicts``
    (paths with conflict markers, or ``.rej`` files with ``conflict="rej"``).
    """
    study = Path(study).absolute()
    answers = _answers(study)
    src, old = answers.get("_src_path"), answers.get("_commit")
    _require_clean_git(study)
    new = _running_version()
    pinned = str(answers.get(REQUIREMENT_KEY) or "")
    if requirement is not None:
        _check_requirement_option(study, requirement, src, pinned)
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
    if old == new and requirement is None:
        print(f"psweep update: {study.name} has the template of psweep {new} already", file=out)
        _tell_requirement(study, pinned, new, out)
        return {"old": old, "new": new, "changed": [], "conflicts": []}
    from psweep.study.template_repo import template_source

    with tempfile.TemporaryDirectory(prefix="psweep-update-") as tmp:
        # built before anything changes: if it fails, the study is as it was
        built = None if requirement is None else _build(requirement, Path(tmp) / "wheel", new)
        if old != new:
            print(f"psweep update: template of psweep {old} -> {new}", file=out)
        versions = [(new, template_files(template_source()))]
        if old != new:
            versions.insert(0, (old, _old_template(study, old)))
        data: dict[str, Any] = {"psweep_version": new} if "psweep_version" in answers else {}
        if requirement is not None:
            data[REQUIREMENT_KEY] = requirement
        repo = make_template_repo(Path(tmp) / "template", versions)
        with serve_template_repo(repo):
            _copier_update(study, data, new, conflict)
        if not pinned:
            vendor = study / VENDOR_DIR
            olds = [w for w in _vendored_wheels(vendor) if wheel_version(w) == old]
            _replace_vendored(study, olds, psweep_wheel(vendor), out)
        elif built is not None:
            print(f"psweep update: {REQUIREMENT_KEY} is {requirement} now", file=out)
            # the old requirement's wheel makes way: the requirement gives the study one psweep
            olds = _vendored_wheels(study / VENDOR_DIR)
            _replace_vendored(study, olds, Path(shutil.copy2(built, study / VENDOR_DIR)), out)
        else:
            _tell_requirement(study, pinned, new, out)
    return _summary(study, old, new, out)


def _check_requirement_option(study: Path, requirement: str, src: Any, pinned: str) -> None:
    """--requirement is for a study of psweep new that installs psweep from psweep_requirement."""
    if src != TEMPLATE_URL:
        why = f"it was copied from {src}; change it with copier update --data {REQUIREMENT_KEY}=..."
    elif not pinned:
        why = (
            f"it keeps the wheel of its psweep in {VENDOR_DIR}/, which psweep update replaces "
            "with this psweep's; run psweep update without --requirement"
        )
    else:
        return
    raise PsweepUpdateError(
        f"--requirement {requirement!r}: {str(study)!r} does not install psweep from a "
        f"{REQUIREMENT_KEY}: {why}"
    )


def _build(requirement: str, dest: Path, new: str) -> Path:
    """The wheel of `requirement`, which must be the running psweep `new`."""
    if re.match(REQUIREMENT_PATTERN, requirement) is None:
        # with a URL only: pip must never look for psweep-kit by name in the package index
        raise PsweepUpdateError(
            f"--requirement {requirement!r} is not a requirement of psweep with a URL; give "
            f"{DIST_NAME} @ git+URL@COMMIT, or {DIST_NAME} @ "
            f"file:///path/to/{WHEEL_NAME}-{new}-py3-none-any.whl"
        )
    try:
        wheel = requirement_wheel(requirement, dest)
    except PsweepPinError as exc:
        raise PsweepUpdateError(f"{exc}; the study was left as it was") from exc
    if wheel_version(wheel) != new:
        raise PsweepUpdateError(
            f"--requirement {requirement!r} is psweep {wheel_version(wheel)}, but this is psweep "
            f"{new}, whose template psweep update brings: give the requirement of psweep {new}, "
            f"or run psweep update with psweep {wheel_version(wheel)}; the study was left as it was"
        )
    return wheel


def suggested_requirement(pinned: str, source: str, version: str) -> str:
    """The ``psweep_requirement`` of psweep `version`, installed here from `source`.

    `source` is what pip installed the running psweep from
    (:func:`~psweep.study.installation.reinstall_source`); `pinned` is the
    study's old requirement. A git commit or a wheel file gives the
    requirement itself; else the old requirement's git URL, or a
    placeholder, with the part to fill in between ``<`` and ``>``.

    Examples
    --------
    >>> old = "psweep-kit @ git+https://x.org/p.git@1a2b"
    >>> suggested_requirement(old, "git+https://x.org/p.git@3c4d", "0.9.0")
    'psweep-kit @ git+https://x.org/p.git@3c4d'
    >>> suggested_requirement(old, "-e /src/psweep", "0.9.0")
    'psweep-kit @ git+https://x.org/p.git@<commit or tag of psweep 0.9.0>'
    >>> old = "psweep-kit @ file:///w/psweep_kit-0.8.0-py3-none-any.whl"
    >>> suggested_requirement(old, "/w/psweep_kit-0.9.0-py3-none-any.whl", "0.9.0")
    'psweep-kit @ file:///w/psweep_kit-0.9.0-py3-none-any.whl'
    """
    if source.startswith("git+"):
        return f"{DIST_NAME} @ {source}"
    if source.startswith("/") and source.endswith(".whl"):
        return f"{DIST_NAME} @ file://{source}"
    git_url = re.match(rf"{DIST_NAME}\s*@\s*(git\+.+)@[^@/]+\Z", pinned)
    if git_url:
        return f"{DIST_NAME} @ {git_url.group(1)}@<commit or tag of psweep {version}>"
    return (
        f"{DIST_NAME} @ <git+URL@COMMIT of psweep {version}, or "
        f"file:///path/to/{WHEEL_NAME}-{version}-py3-none-any.whl>"
    )


def _tell_requirement(study: Path, pinned: str, new: str, out) -> None:
    """One line: the study installs another psweep than `new` from `pinned`, and the fix."""
    if not pinned:
        return
    locked = _locked_version(study)
    if locked == new:
        return
    what = f"psweep {locked}" if locked else "psweep"
    move = shlex.quote(suggested_requirement(pinned, reinstall_source(), new))
    print(
        f"psweep update: the study still installs {what} from its {REQUIREMENT_KEY} "
        f"{pinned!r}, not psweep {new}, whose template it has now. To move it, with this "
        f"update committed, run: psweep update --requirement {move} (it builds that wheel into "
        f"{VENDOR_DIR}/ and pins it in {LOCK_FILE}); or by hand: set {REQUIREMENT_KEY} in "
        f"{ANSWERS} and PSWEEP_SOURCE in {NOXFILE}, delete {VENDOR_DIR}/{WHEEL_NAME}-*.whl, "
        "then run nox -s lock",
        file=out,
    )


def _replace_vendored(study: Path, olds: list[Path], wheel: Path, out) -> None:
    """`wheel` in vendor/ in place of the wheels `olds`, and pinned in the lock."""
    old_requires = _requires(olds[0]) if olds else None
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
    else:
        print(
            f"psweep update: {LOCK_FILE} pins no psweep wheel by hash (or is missing); run "
            f"nox -s lock (online) to pin {wheel.name}",
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
