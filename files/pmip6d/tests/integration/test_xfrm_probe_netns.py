"""kernel_has_esp() against iproute2's own answer, on whatever kernel runs the tests.

On the lab machines' kernel (no esp6) both say no, and ``implementation: auto``
picks the agent's ESP; under Debian's kernel tests/stock_kernel asserts yes and
tests the kernel's ESP itself. Either way the probe leaves no state behind.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from pmip6d.security.xfrm import kernel_has_esp

pytestmark = pytest.mark.netns


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def test_the_probe_agrees_with_iproute2_and_leaves_nothing(netns_ok):
    ns = f"xprobe{os.getpid()}"
    ip("netns", "add", ns)
    try:
        answer = kernel_has_esp(ns)
        assert ip("-n", ns, "xfrm", "state", "count").stdout.split() == ["SAD", "count", "0"]
        # The witness: the same kind of SA added by hand (a fixed key is fine in a
        # throwaway namespace), then deleted.
        witness = ip(
            "-n", ns, "xfrm", "state", "add", "src", "::1", "dst", "::1", "proto", "esp",
            "spi", "0x4242", "mode", "transport", "aead", "rfc4106(gcm(aes))",
            "0x" + "11" * 20, "128", check=False,
        )  # fmt: skip
        assert answer == (witness.returncode == 0), witness.stderr
    finally:
        ip("netns", "del", ns, check=False)
