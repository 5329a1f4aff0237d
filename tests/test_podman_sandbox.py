"""The private podman of the container tests leaves nothing behind, also on failure."""

from __future__ import annotations

import subprocess

import pytest
from container_utils import podman_available, private_podman

_ok, _reason = podman_available()
pytestmark = pytest.mark.skipif(not _ok, reason=_reason)


def _mounted(path) -> bool:
    return str(path) in subprocess.run(["mount"], capture_output=True, text=True).stdout


def test_cleanup_after_failure(tmp_path):
    """It removes its storage, config and mounts when the block raises."""
    root = tmp_path / "podman"
    with pytest.raises(RuntimeError, match="boom"), private_podman(root) as podman:
        podman("info", capture=True)
        assert (root / "storage.conf").exists()
        raise RuntimeError("boom")
    assert not root.exists()
    assert not _mounted(root)


def test_storage_is_private(tmp_path):
    """It keeps images in its own storage, not in the machine's."""
    with private_podman(tmp_path / "podman") as podman:
        info = podman("info", "--format", "{{.Store.GraphRoot}}", capture=True).stdout.strip()
        assert info == str(tmp_path / "podman" / "storage")
