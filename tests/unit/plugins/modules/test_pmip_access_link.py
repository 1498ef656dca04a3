# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pmip_access_link: options, missing pyroute2, and the real thing in a network namespace.

The namespace tests need root (CAP_SYS_ADMIN for ``ip netns add``, CAP_NET_ADMIN
inside); they are skipped, and say so, when not run as root. They check the
result with ``ip`` (iproute2), not with the module's own reading. The
module_utils are also applied from a fresh interpreter: this one, and the
system's if it has pyroute2 (Debian 12's python3-pyroute2 is 0.7, what target
hosts run; pyroute2 0.7 and 0.9 differ in how message attributes are read).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from ansible_collections.netlmm.pmipv6.plugins.module_utils import pmip_access_link as utils
from ansible_collections.netlmm.pmipv6.plugins.modules import pmip_access_link

SHARED_MAC = "02:50:4d:49:50:36"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root for network namespaces")


def test_missing_pyroute2_fails_with_missing_required_lib(run_module, monkeypatch):
    monkeypatch.setattr(pmip_access_link, "HAS_PYROUTE2", False)
    monkeypatch.setattr(pmip_access_link, "PYROUTE2_IMPORT_ERROR", "ImportError: no pyroute2")
    result = run_module(pmip_access_link, {"interface": "acc0"})
    assert result["failed"]
    assert result["msg"].startswith("Failed to import the required Python library (pyroute2)")


@pytest.mark.parametrize(
    "args, message",
    [
        ({"mac": "01:00:5e:00:00:01"}, "01:00:5e:00:00:01 is a multicast MAC address"),
        ({"link_local": "2001:db8::1"}, "2001:db8::1 is not a link-local (fe80::/10) address"),
        ({"prefixlen": 200}, "link-local prefix length 200 is not in 10..128"),
    ],
)
def test_bad_options(run_module, args, message):
    result = run_module(pmip_access_link, dict({"interface": "acc0"}, **args))
    assert result["failed"]
    assert result["msg"] == message


def test_no_such_interface(run_module):
    result = run_module(pmip_access_link, {"interface": "nosuchif0", "shared": False})
    assert result["failed"]
    assert result["msg"] == "nosuchif0: no such interface"


def test_no_such_namespace(run_module):
    result = run_module(pmip_access_link, {"interface": "acc0", "netns": "pmip-does-not-exist"})
    assert result["failed"]
    assert result["msg"] == "no network namespace 'pmip-does-not-exist' in /run/netns"
    assert not os.path.exists("/run/netns/pmip-does-not-exist")


# --------------------------------------------------------------------------- network namespace


def ip(*args, netns=None):
    cmd = ["ip"] + (["-n", netns] if netns else []) + list(args)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def kernel_view(netns, interface):
    """MAC, addr_gen_mode and link-local addresses, as iproute2 reports them."""
    (link,) = json.loads(ip("-j", "-d", "link", "show", "dev", interface, netns=netns))
    # An interface without IPv6 addresses is left out of the list entirely.
    addrs = json.loads(ip("-j", "-6", "addr", "show", "dev", interface, netns=netns))
    gen_mode = link.get("inet6_addr_gen_mode")
    lls = [
        f"{a['local']}/{a['prefixlen']}"
        for entry in addrs
        for a in entry.get("addr_info", [])
        if a.get("scope") == "link"
    ]
    return {"mac": link["address"], "addr_gen_mode": gen_mode, "link_local": sorted(lls)}


@pytest.fixture
def netns():
    """A namespace with a veth pair acc0/peer0, both up (so acc0 has its EUI-64 link-local)."""
    name = f"pmipt-{uuid.uuid4().hex[:8]}"
    ip("netns", "add", name)
    try:
        ip("link", "add", "acc0", "type", "veth", "peer", "name", "peer0", netns=name)
        ip("link", "set", "acc0", "up", netns=name)
        ip("link", "set", "peer0", "up", netns=name)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@needs_root
def test_netns_apply_twice_and_check_mode(netns, run_module):
    start = kernel_view(netns, "acc0")
    assert start["addr_gen_mode"] == "eui64" and len(start["link_local"]) == 1
    args = {"interface": "acc0", "mac": SHARED_MAC, "link_local": "fe80::1", "netns": netns}

    # Check mode: reports the changes, makes none.
    result = run_module(pmip_access_link, args, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["changes"] == [
        "set addr_gen_mode eui64 -> none",
        f"set mac {start['mac']} -> {SHARED_MAC}",
        "add address fe80::1/64 (nodad)",
        f"remove address {start['link_local'][0]}",
    ]
    assert result["diff"]["before"] == start
    assert result["diff"]["after"] == {
        "mac": SHARED_MAC,
        "addr_gen_mode": "none",
        "link_local": ["fe80::1/64"],
    }
    assert kernel_view(netns, "acc0") == start

    # First run changes, and the kernel agrees.
    result = run_module(pmip_access_link, args, diff=True)
    assert result["changed"] is True
    assert len(result["changes"]) == 4
    wanted = {"mac": SHARED_MAC, "addr_gen_mode": "none", "link_local": ["fe80::1/64"]}
    assert kernel_view(netns, "acc0") == wanted
    assert (result["mac"], result["addr_gen_mode"], result["link_local"]) == (
        SHARED_MAC,
        "none",
        ["fe80::1/64"],
    )
    assert result["diff"]["before"] == start and result["diff"]["after"] == wanted

    # Second run: nothing to do, in check mode or not.
    for check_mode in (True, False):
        result = run_module(pmip_access_link, args, check_mode=check_mode)
        assert result["changed"] is False, result
        assert result["changes"] == []
    assert kernel_view(netns, "acc0") == wanted

    # After a down/up the address is flushed; the kernel adds no EUI-64 of its own,
    # and the module restores ours.
    ip("link", "set", "acc0", "down", netns=netns)
    ip("link", "set", "acc0", "up", netns=netns)
    assert kernel_view(netns, "acc0")["link_local"] == []
    result = run_module(pmip_access_link, args)
    assert result["changes"] == ["add address fe80::1/64 (nodad)"]
    assert kernel_view(netns, "acc0") == wanted


@needs_root
def test_netns_not_shared_reports_and_changes_nothing(netns, run_module):
    start = kernel_view(netns, "acc0")
    result = run_module(
        pmip_access_link,
        {"interface": "acc0", "mac": SHARED_MAC, "shared": False, "netns": netns},
        diff=True,
    )
    assert result["changed"] is False
    assert result["changes"] == []
    assert (result["mac"], result["addr_gen_mode"], result["link_local"]) == (
        start["mac"],
        "eui64",
        start["link_local"],
    )
    assert kernel_view(netns, "acc0") == start


def _pythons_with_pyroute2():
    """This interpreter, and the system's if it has pyroute2 (Debian 12: 0.7, as on targets).

    Never empty, so the test always runs (as root); the system interpreter is added
    when the machine has python3-pyroute2 installed.
    """
    found = [sys.executable]
    system = "/usr/bin/python3"
    if os.path.exists(system) and os.path.realpath(system) != os.path.realpath(sys.executable):
        probe = subprocess.run([system, "-c", "import pyroute2"], capture_output=True, check=False)
        if probe.returncode == 0:
            found.append(system)
    return found


_APPLY_SCRIPT = r"""
import json, sys
from ansible_collections.netlmm.pmipv6.plugins.module_utils import pmip_access_link as u
desired = u.Desired("acc0", mac=sys.argv[2])
with u.Netlink(netns=sys.argv[1]) as nl:
    first = [str(c) for c in u.apply(nl, desired)[1]]
    second = [str(c) for c in u.apply(nl, desired)[1]]
    left = [str(c) for c in u.plan(nl.read("acc0"), desired)]
    print(json.dumps({"first": first, "second": second, "plan": left}))
"""


@needs_root
@pytest.mark.parametrize("python", _pythons_with_pyroute2())
def test_netns_module_utils_in_a_subprocess(netns, python):
    # The collection root that holds ansible_collections/, as this test imported it.
    base = Path(utils.__file__).parents[5]
    out = subprocess.run(
        [python, "-c", _APPLY_SCRIPT, netns, SHARED_MAC],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, PYTHONPATH=str(base)),
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert len(result["first"]) == 4
    assert result["second"] == [] and result["plan"] == []
    assert kernel_view(netns, "acc0") == {
        "mac": SHARED_MAC,
        "addr_gen_mode": "none",
        "link_local": ["fe80::1/64"],
    }
