"""Fixtures of the collection's playbook-level tests."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pmipv6_test_helpers import ROOT, podman_available


@pytest.fixture
def emulated_copy(tmp_path) -> Path:
    """A scratch copy of inventories/emulated to break on purpose."""
    dest = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventories" / "emulated", dest)
    return dest


@pytest.fixture(scope="session")
def podman_ok() -> None:
    reason = podman_available()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"podman tests cannot run: {reason}")
    # Outside CI (a developer without root or podman) the skip is shown with its
    # reason; scripts/test.sh fails any skip under CI=true as well.
    pytest.skip(reason)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "podman: builds containers with rootful podman (root)")
