"""Pin a study to the psweep that made it: its wheel in the study, and a lock file.

``psweep new`` puts the wheel of the running psweep into ``<study>/vendor/``
and pins ``psweep-kit==<version>`` with that wheel's hash in
``requirements.lock``, so that pip can only ever install this very file (the
distribution is ``psweep-kit``; the package index has an unrelated project
named ``psweep``). The lock pins
every other package to an exact version with hashes too; it is made by
``uv pip compile`` (for all platforms, for the study's Python version), with the
arguments of the study's own ``nox -s lock`` (``LOCK_ARGS`` in its
``noxfile.py``, see :func:`lock_command`).

Where the wheel comes from:

- ``PSWEEP_WHEEL``: a wheel file named in the environment (its version must be
  the running one), e.g. one built once for many studies;
- an installed psweep (from a wheel, as pip installs it): its installed files,
  packed into a wheel again from the list in its ``RECORD``;
- psweep run from a source checkout (an editable install): ``pip wheel`` of
  the checkout.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from psweep.environment import WHEEL_ENV
from psweep.errors import PsweepPinError
from psweep.study.installation import DIST_NAME, PACKAGE_DIR, VENDOR_DIR, WHEEL_NAME

__all__ = [
    "LOCK_FILE",
    "NOXFILE",
    "REQUIREMENTS_FILE",
    "VENDOR_DIR",
    "lock_command",
    "lock_study",
    "psweep_wheel",
    "requirement_wheel",
    "wheel_version",
]

REQUIREMENTS_FILE = "requirements.in"
LOCK_FILE = "requirements.lock"
NOXFILE = "noxfile.py"
_LOCK_ARGS = "LOCK_ARGS"  # the list in the study's noxfile.py that holds the lock command
# files of an installed distribution that pip writes at install time, not part of the wheel
_INSTALL_ONLY = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}
# one timestamp for the packed files (wheel writes RECORD with the time of packing)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _running_version() -> str:
    from psweep.version import __version__

    return __version__


def wheel_version(path: Path) -> str:
    """The version in the file name of a psweep wheel (``psweep_kit-<version>-...whl``).

    Wheels named ``psweep-<version>-...whl`` are accepted too: psweep's own wheels
    before the distribution was renamed to psweep-kit, as older studies keep them
    in vendor/.
    """
    # name-version(-build)?-python-abi-platform.whl
    parts = path.name[: -len(".whl")].split("-")
    if len(parts) < 5 or parts[0].lower() not in (WHEEL_NAME, "psweep"):
        raise PsweepPinError(
            f"{str(path)!r} is not the file name of a psweep wheel ({WHEEL_NAME}-<version>-...whl)"
        )
    return parts[1]


def _from_env(dest_dir: Path) -> Path | None:
    given = os.environ.get(WHEEL_ENV)
    if not given:
        return None
    src = Path(given)
    if not src.is_file():
        raise PsweepPinError(f"PSWEEP_WHEEL={given!r} is not a file")
    version = wheel_version(src)
    if version != _running_version():
        raise PsweepPinError(
            f"PSWEEP_WHEEL={given!r} is psweep {version}, but psweep {_running_version()} "
            "is running; give the wheel of the running psweep, or unset PSWEEP_WHEEL"
        )
    dest = dest_dir / src.name
    shutil.copyfile(src, dest)
    return dest


def _installed_dist() -> metadata.Distribution | None:
    """The installed distribution of the running psweep, if it was installed from a wheel."""
    try:
        dist = metadata.distribution(DIST_NAME)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != _running_version() or not dist.files:
        return None
    direct_url = dist.read_text("direct_url.json") or ""
    if re.search(r'"editable"\s*:\s*true', direct_url):
        return None
    here = PACKAGE_DIR / "__init__.py"
    init = next((f for f in dist.files if str(f).replace("\\", "/") == "psweep/__init__.py"), None)
    # locate_file() gives a pathlib.Path for an installed (file system) distribution
    if init is None or Path(str(dist.locate_file(init))).resolve() != here:
        return None  # another psweep is installed than the one running
    return dist


def _pack_installed(dist: metadata.Distribution, dest_dir: Path) -> Path:
    """Pack the files that pip installed from psweep's wheel into that wheel again."""
    from wheel.wheelfile import WheelFile

    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")
    ]
    if not tags:
        raise PsweepPinError("the installed psweep has no WHEEL file with a Tag; reinstall psweep")
    name = f"{WHEEL_NAME}-{dist.version}-{tags[0]}.whl"
    dest = dest_dir / name
    files = sorted(str(f).replace("\\", "/") for f in dist.files or ())
    with WheelFile(dest, "w") as whl:
        for rel in files:
            parts = rel.split("/")
            if ".." in parts or "__pycache__" in parts or rel.endswith(".pyc"):
                continue  # scripts (made anew from entry_points.txt) and byte code
            if parts[0].endswith(".dist-info") and parts[-1] in _INSTALL_ONLY:
                continue
            data = Path(str(dist.locate_file(rel))).read_bytes()
            info = zipfile.ZipInfo(rel, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            whl.writestr(info, data)
    return dest


def _build_checkout(root: Path, dest_dir: Path) -> Path:
    """Build the wheel of a source checkout with pip (for editable installs)."""
    with tempfile.TemporaryDirectory(prefix="psweep-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp, str(root)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise PsweepPinError(
                f"could not build the wheel of psweep from {root} ({' '.join(cmd)}): "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
            )
        (built,) = Path(tmp).glob(f"{WHEEL_NAME}-*.whl")
        if wheel_version(built) != _running_version():
            raise PsweepPinError(
                f"the checkout {root} builds psweep {wheel_version(built)}, but psweep "
                f"{_running_version()} is running; reinstall it (pip install -e {root})"
            )
        dest = dest_dir / built.name
        shutil.move(built, dest)
    return dest


def psweep_wheel(dest_dir: str | os.PathLike) -> Path:
    """Write the wheel of the running psweep into `dest_dir` and return its path."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    found = _from_env(dest_dir)
    if found is not None:
        return found
    dist = _installed_dist()
    if dist is not None:
        return _pack_installed(dist, dest_dir)
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file():
        return _build_checkout(root, dest_dir)
    raise PsweepPinError(
        f"no wheel of psweep {_running_version()} can be made: it is not installed by pip and "
        f"not run from a source checkout ({PACKAGE_DIR}); install it with pip, or "
        "name a wheel in PSWEEP_WHEEL"
    )


def requirement_wheel(requirement: str, dest_dir: str | os.PathLike) -> Path:
    """The wheel of psweep built from `requirement` (``psweep-kit @ URL``) into `dest_dir`.

    A lock cannot pin a git checkout or a folder by hash (pip refuses them in
    hash-checking mode), so the study pins this wheel instead. A psweep_kit
    wheel already in `dest_dir` is kept (delete it to build anew). The study's
    ``nox -s lock`` does the same.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    found = sorted(dest_dir.glob(f"{WHEEL_NAME}-*.whl"))
    if found:
        return found[-1]
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps"]
    cmd = [*pip, "-w", str(dest_dir), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    built = sorted(dest_dir.glob(f"{WHEEL_NAME}-*.whl"))
    if proc.returncode != 0 or not built:
        raise PsweepPinError(
            f"could not build the wheel of psweep from {requirement!r} ({' '.join(cmd)}): "
            f"{(proc.stderr or proc.stdout).strip()[-2000:] or f'no {WHEEL_NAME}-*.whl made'}"
        )
    return built[-1]


def lock_command(study: str | os.PathLike) -> list[str]:
    """The arguments after ``uv`` that turn requirements.in into requirements.lock.

    They have one home: the list ``LOCK_ARGS`` in the study's ``noxfile.py``,
    which its ``nox -s lock`` runs (a noxfile runs without psweep, so psweep asks
    the noxfile, not the other way round). The list is read, never executed.
    """
    path = Path(study) / NOXFILE
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError) as exc:
        raise PsweepPinError(f"cannot read the lock command from {str(path)!r}: {exc}") from exc
    for node in tree.body:
        targets = [getattr(t, "id", None) for t in getattr(node, "targets", ())]
        if isinstance(node, ast.Assign) and targets == [_LOCK_ARGS]:
            try:
                args = ast.literal_eval(node.value)
            except ValueError:
                break
            if isinstance(args, list) and args and all(isinstance(a, str) for a in args):
                return args
            break
    raise PsweepPinError(
        f"{str(path)!r} has no {_LOCK_ARGS} = [...], a list of strings: the arguments of "
        "uv that nox -s lock runs; copy it from the noxfile.py of a new study"
    )


def _uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError as exc:  # uv is a dependency of psweep
        raise PsweepPinError("uv is not installed; pip install uv (psweep depends on it)") from exc
    return find_uv_bin()


def lock_study(study: str | os.PathLike) -> Path:
    """Pin every package of `study`'s requirements.in in requirements.lock (needs the index),
    with the command of the study's ``nox -s lock`` (:func:`lock_command`)."""
    study = Path(study)
    if not (study / REQUIREMENTS_FILE).is_file():
        raise PsweepPinError(f"{str(study / REQUIREMENTS_FILE)!r} is missing")
    args = lock_command(study)
    cmd = [_uv(), *args]
    # the system's certificates, as pip uses them (uv's own list fails behind TLS proxies)
    env = {"UV_NATIVE_TLS": "1", **os.environ}
    proc = subprocess.run(cmd, cwd=study, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PsweepPinError(
            f"could not pin the study's packages with 'uv {' '.join(args)}'"
            f" (it needs the package index once): {(proc.stderr or proc.stdout).strip()[-2000:]}"
        )
    return study / LOCK_FILE
