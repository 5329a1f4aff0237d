"""Which distribution installs psweep, and which other one would overwrite it.

psweep is installed as the distribution ``psweep-kit`` (its wheels are
``psweep_kit-<version>-...whl``); the import name, the ``psweep`` command and
the API are ``psweep``. The package index has an unrelated project named
``psweep`` whose files go to the same place (``site-packages/psweep/``): where
both are installed, each overwrites the other's files, and ``pip install
psweep`` or ``pip install --upgrade psweep`` installs that other project.

:func:`clash_message` finds such another distribution from the installed
metadata only (no import of pandas or of the other package), so that
``psweep --version``, ``psweep new`` and ``psweep update`` can say it in one
line, with the fix.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

__all__ = [
    "DIST_NAME",
    "PACKAGE_DIR",
    "REQUIREMENT_PATTERN",
    "VENDOR_DIR",
    "WHEEL_NAME",
    "clash_message",
    "other_psweep_distributions",
    "reinstall_source",
]

DIST_NAME = "psweep-kit"
WHEEL_NAME = "psweep_kit"  # the distribution's name in wheel file names and dist-info folders
VENDOR_DIR = "vendor"  # a study's folder of the psweep wheel its lock pins
#: A study's ``psweep_requirement``: one pip requirement line of psweep-kit with a URL,
#: never a bare name the package index would answer. copier.yml's validator spells the
#: same pattern (the template cannot import psweep); a test holds the two together.
REQUIREMENT_PATTERN = r"^psweep-kit\s*@\s*[^\s\"'][^\n\"']*\Z"
_IMPORT_NAME = "psweep"
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the folder of the running psweep package
_RECORD_LINE = re.compile(rf"^{_IMPORT_NAME}/", re.M)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installs_psweep(dist: metadata.Distribution) -> bool:
    top_level = dist.read_text("top_level.txt")
    if top_level is not None:
        return _IMPORT_NAME in top_level.split()
    record = dist.read_text("RECORD") or dist.read_text("installed-files.txt") or ""
    return bool(_RECORD_LINE.search(record))


def other_psweep_distributions() -> list[tuple[str, str]]:
    """``(name, version)`` of every installed distribution but psweep-kit that has a ``psweep``
    package, e.g. ``[("psweep", "0.16.0")]`` after ``pip install psweep``."""
    found = []
    for dist in metadata.distributions():
        if not _installs_psweep(dist):
            continue
        name = dist.metadata["Name"] or "?"
        if _normalized(name) != DIST_NAME:
            found.append((name, dist.version))
    return sorted(set(found))


def reinstall_source(cwd: Path | None = None) -> str:
    """What to give pip to install this psweep again: where pip installed it from, if known;
    else the study's own wheel of this version (``vendor/``, in `cwd` or a folder above it),
    which pip records no source for when it installs a study's lock."""
    try:
        dist = metadata.distribution(DIST_NAME)
    except metadata.PackageNotFoundError:
        return _placeholder()
    try:
        info = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        info = {}
    return _direct_source(info) or _vendored_wheel(dist.version, cwd) or _placeholder()


def _placeholder() -> str:
    return f"<the {WHEEL_NAME}-*.whl file, or git+URL@TAG of psweep>"


def _vendored_wheel(version: str, cwd: Path | None = None) -> str | None:
    """The wheel of psweep `version` in a study's ``vendor/`` at `cwd` or above it."""
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        hits = sorted((folder / VENDOR_DIR).glob(f"{WHEEL_NAME}-{version}-*.whl"))
        if hits:
            return str(hits[0])
    return None


def _direct_source(info: dict) -> str | None:
    """pip's record of a direct install (``direct_url.json``) as a pip argument."""
    url = info.get("url", "")
    vcs = info.get("vcs_info")
    if vcs and url:
        return f"{vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id', '')}".rstrip("@")
    if url.startswith("file:///"):
        path = url[len("file://") :]
        return f"-e {path}" if info.get("dir_info", {}).get("editable") else path
    return None


def clash_message() -> str | None:
    """One line that names the other distributions installing ``psweep``, and the fix; else None."""
    others = other_psweep_distributions()
    if not others:
        return None
    names = ", ".join(f"{name} {version}" for name, version in others)
    uninstall = " ".join(sorted({name for name, _ in others}))
    return (
        f"psweep: {names} is installed here too, a distribution that also installs the "
        f"package 'psweep' (the index's psweep is another project) and overwrites this psweep "
        f"({DIST_NAME}) or is overwritten by it; "
        f"fix: pip uninstall -y {uninstall} && pip install --force-reinstall --no-deps "
        f"{reinstall_source()}"
    )
