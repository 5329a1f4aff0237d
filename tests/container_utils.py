"""A private podman for tests: its own storage, offline builds, full clean-up.

Podman runs as root here with runc and a storage folder of its own (set through
CONTAINERS_STORAGE_CONF / CONTAINERS_CONF), so the tests touch no images of
the machine and leave nothing behind. Images build offline: the base image is
a Debian root file system made with debootstrap (cached between runs) and
imported, and Python packages come from a wheelhouse made on the host.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

BASE_IMAGE = "localhost/psweep-base"
BASE_PACKAGES = "python3,python3-venv,git,git-lfs,ca-certificates"
# Set PSWEEP_CONTAINER_CACHE to a folder to keep the debootstrap base there between
# runs; by default it is made inside the private storage and removed with it.
CACHE_ENV = "PSWEEP_CONTAINER_CACHE"  # psweep.environment says what it does


# A docker client whose daemon is absent: `docker info`, like every other command, fails so
DAEMONLESS_DOCKER = """#!/bin/sh
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." \
    "Is the docker daemon running?" >&2
exit 1
"""


def daemonless_docker(bin_dir: Path) -> Path:
    """Write a stand-in for a docker client without a daemon into `bin_dir`."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(DAEMONLESS_DOCKER)
    docker.chmod(0o755)
    return docker


def podman_available() -> tuple[bool, str]:
    """Whether podman, runc and debootstrap are installed (root needed for debootstrap)."""
    missing = [t for t in ("podman", "runc", "debootstrap") if shutil.which(t) is None]
    if missing:
        return (
            False,
            f"not installed: {', '.join(missing)} (apt-get install podman runc debootstrap)",
        )
    if os.geteuid() != 0:
        return False, "debootstrap and the podman setup of these tests need root"
    return True, ""


class Podman:
    """podman with storage and configuration in `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.graphroot = root / "storage"
        root.mkdir(parents=True, exist_ok=True)
        (root / "storage.conf").write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{self.graphroot}"\n'
            f'runroot = "{root / "run"}"\n'
        )
        (root / "containers.conf").write_text(
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            "[containers]\n"
            'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        )
        self.env = {
            **os.environ,
            "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
            "CONTAINERS_CONF": str(root / "containers.conf"),
        }

    def __call__(
        self, *args: str, check: bool = True, capture: bool = False, timeout: float = 900
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["podman", *args],
            env=self.env,
            check=check,
            text=True,
            capture_output=capture,
            timeout=timeout,
        )

    def import_base(self) -> str:
        """Import the Debian base image, made with debootstrap (or taken from the cache)."""
        cache = Path(os.environ.get(CACHE_ENV) or self.root / "cache")
        tar = cache / "bookworm-minbase.tar"
        if not tar.exists():
            cache.mkdir(parents=True, exist_ok=True)
            rootfs = cache / "rootfs.tmp"
            shutil.rmtree(rootfs, ignore_errors=True)
            subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm",
                 str(rootfs)],
                check=True, capture_output=True, timeout=900,
            )  # fmt: skip
            part = tar.with_suffix(".part")
            with tarfile.open(part, "w") as out:
                out.add(rootfs, arcname=".")
            part.replace(tar)
            shutil.rmtree(rootfs, ignore_errors=True)
        self("import", str(tar), BASE_IMAGE, capture=True)
        return BASE_IMAGE

    def build(
        self,
        context: Path,
        tag: str,
        target: str | None = None,
        build_args: Sequence[str] = (),
    ) -> None:
        """Build offline (no network) from `context`."""
        args = ["build", "--network=none", "-t", tag, "--build-arg", f"BASE={BASE_IMAGE}"]
        for arg in build_args:
            args += ["--build-arg", arg]
        if target:
            args += ["--target", target]
        proc = self(*args, str(context), capture=True, check=False)
        if proc.returncode != 0:  # say why: the last lines of the build, not only its status
            lines = [ln for ln in proc.stderr.splitlines() if "WARNING: Location" not in ln]
            raise AssertionError(
                f"podman build of {tag} (target {target}) failed with exit status "
                f"{proc.returncode}:\n" + "\n".join(lines[-25:])
            )

    def run(self, image: str, *cmd: str, mounts: Sequence[tuple[Path, str]] = (),
            workdir: str | None = None) -> subprocess.CompletedProcess:  # fmt: skip
        """Run `cmd` in a throw-away container without network, as the calling user."""
        args = ["run", "--rm", "--network=none", "--user", f"{os.getuid()}:{os.getgid()}"]
        for host, target in mounts:
            args += ["-v", f"{host}:{target}"]
        if workdir:
            args += ["-w", workdir]
        return self(*args, image, *cmd, capture=True, check=False)

    def cleanup(self) -> None:
        """Remove all containers, images and storage; unmount what podman mounted."""
        self("rm", "--all", "--force", check=False, capture=True)
        self("system", "reset", "--force", check=False, capture=True)
        overlay = self.graphroot / "overlay"
        if overlay.exists():
            subprocess.run(["umount", str(overlay)], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_podman(root: Path) -> Iterator[Podman]:
    podman = Podman(root)
    try:
        yield podman
    finally:
        podman.cleanup()


def wheelhouse(dest: Path, requirements: Sequence[str]) -> Path:
    """Build or download wheels of `requirements` (and hatchling) for offline builds."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(dest), "hatchling", *requirements],
        check=True,
        timeout=900,
    )
    return dest
