"""Namespace tests need root. In CI a missing capability is a failure, not a skip.

Tests that take a ``backend`` argument run once per tunnel backend *this*
kernel offers, as probed in a throwaway namespace (the lab's kernel: ebpf;
a kernel with seg6: seg6 and ebpf; Debian's: all three).
``PMIP6D_TEST_BACKENDS=ip6tnl`` (comma-separated) names them instead — the
stock-kernel stage does so, and a named backend the kernel lacks then fails
its tests rather than quietly disappearing.

The lab's namespace tests (files/pmip6d-lab/tests/integration) need the same
fixtures; neither test tree is installed and the agent must not import the lab,
so the lab keeps a byte-identical copy of this file, and a lab unit test
(test_shared_conftest.py) fails when the two differ.
"""

from __future__ import annotations

import functools
import os
import subprocess

import pytest

from pmip6d.dataplane import Channel, Kernel, Ownership, probe


def require_root() -> str | None:
    """None when namespace tests can run here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, check=False)
    if listed.returncode != 0:
        return "iproute2 cannot manage network namespaces here"
    return None


@pytest.fixture(scope="session")
def netns_ok() -> None:
    reason = require_root()
    if reason is None:
        return
    if os.environ.get("CI") or os.environ.get("PMIP6D_REQUIRE_NETNS"):
        pytest.fail(f"namespace tests cannot run: {reason}")
    # Outside CI (a developer without root) the skip is shown with its reason;
    # scripts/test.sh fails any skip under CI=true as well.
    pytest.skip(reason)


@functools.cache
def kernel_report() -> probe.Report | None:
    """What this kernel offers, probed in a fresh namespace (None without root)."""
    if require_root() is not None:
        return None
    name = f"probe{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        channel = Channel(name)
        try:
            return probe.report(Kernel(channel, Ownership()), 1)
        finally:
            channel.close()
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def backends_under_test() -> list[str]:
    named = os.environ.get("PMIP6D_TEST_BACKENDS", "").strip()
    if named:
        return [b.strip() for b in named.split(",") if b.strip()]
    report = kernel_report()
    if report is None:
        return ["auto"]  # the netns_ok fixture explains why these cannot run
    return report.usable  # empty: pytest reports the tests as not run, and CI fails on that


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", backends_under_test(), scope="module")
