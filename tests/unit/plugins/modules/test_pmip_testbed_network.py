# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pmip_testbed_network: the description's checks, check mode, and the real thing.

The namespace tests need root (``ip netns add``); they are skipped, and say so,
when not run as root. They build two named namespaces cabled by a veth, check
the result with ``ip`` (not with the module's own reading), run again (no
change), drift something and check that check mode reports it without fixing it,
then remove everything with state=absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest
from ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_testbed_network import (
    CablingError,
    Net,
    normalize,
)
from ansible_collections.netlmm.pmipv6.plugins.modules import pmip_testbed_network

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root for network namespaces")


# --------------------------------------------------------------------------- the description


def test_normalize_fills_in_the_defaults():
    (node,) = normalize(
        [
            {
                "name": "sw",
                "netns": "sw",
                "bridges": [{"name": "br0"}],
                "links": [{"name": "a", "peer": {"node": "x", "name": "b"}}],
                "addresses": [{"dev": "a", "address": "2001:db8::1/64"}],
                "routes": [{"to": "default", "via": "2001:db8::2"}],
            }
        ]
    )
    assert node["create"] is False and node["sysctls"] == []
    assert node["bridges"] == [{"name": "br0", "mcast_snooping": False}]
    (link,) = node["links"]
    assert (link["state"], link["mac"], link["peer"]["runtime"]) == ("up", None, False)
    assert node["addresses"][0]["nodad"] is True
    assert node["routes"][0] == {
        "to": "default",
        "via": "2001:db8::2",
        "dev": None,
        "family": "inet6",
    }


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ({"name": "x"}, "nodes: expected a list"),
        ([{"name": "x"}], r"nodes\[0\]: netns is required"),
        ([{"name": "x", "netns": "x", "links": {}}], "node x: links: expected a list"),
        (
            [{"name": "x", "netns": "x", "links": [{"name": "a", "state": "on", "peer": {}}]}],
            "node x: link a: peer: node is required",
        ),
        (
            [
                {
                    "name": "x",
                    "netns": "x",
                    "links": [{"name": "a", "state": "on", "peer": {"node": "y", "name": "b"}}],
                }
            ],
            "node x: link a: state must be up or down",
        ),
        ([{"name": "x", "netns": "x", "sysctls": [{"name": "k"}]}], "sysctl k: value is required"),
    ],
)
def test_normalize_names_what_is_wrong(nodes, message):
    with pytest.raises(CablingError, match=message):
        normalize(nodes)


def test_a_node_described_twice_is_refused():
    nodes = normalize([{"name": "x", "netns": "x"}, {"name": "x", "netns": "y"}])
    with pytest.raises(CablingError, match="node 'x' is described twice"):
        Net(nodes, False, lambda argv: (0, "", ""))


def test_check_mode_reports_a_new_namespace_and_runs_no_change():
    ran = []

    def runner(argv):
        ran.append(argv)
        return 0, "", ""

    net = Net(
        normalize(
            [
                {
                    "name": "sw",
                    "netns": "pmipt-never-created",
                    "create": True,
                    "bridges": [{"name": "br0"}],
                    "sysctls": [{"name": "net.ipv6.conf.all.forwarding", "value": True}],
                }
            ]
        ),
        True,
        runner,
    )
    net.present()
    enter = "nsenter --net=/run/netns/pmipt-never-created --"
    assert net.commands == [
        "ip netns add pmipt-never-created",
        f"{enter} ip link set lo up",
        f"{enter} ip link add br0 type bridge mcast_snooping 0",
        f"{enter} ip link set br0 up",
        f"{enter} sysctl -qw net.ipv6.conf.all.forwarding=1",
    ]
    assert ran == []  # the namespace does not exist: nothing to read, nothing run
    assert not os.path.exists("/run/netns/pmipt-never-created")


def test_a_missing_container_namespace_is_an_error():
    net = Net(normalize([{"name": "mn1", "netns": "pid:999999999"}]), False, None)
    with pytest.raises(CablingError, match=r"mn1: .* does not exist \(is the container running"):
        net.present()


def test_module_validates_its_arguments(run_module):
    result = run_module(pmip_testbed_network, {"nodes": [{"name": "x"}]})
    assert result["failed"]
    assert "missing required arguments: netns" in result["msg"]


def test_module_fails_with_the_reason(run_module):
    result = run_module(pmip_testbed_network, {"nodes": [{"name": "x", "netns": "pmipt-none"}]})
    assert result["failed"]
    assert result["msg"] == "node x: network namespace /run/netns/pmipt-none does not exist"
    assert result["commands"] == []


# --------------------------------------------------------------------------- network namespaces


def ip_json(netns, *args):
    out = subprocess.run(
        ["ip", "-n", netns, "-j", *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out or "[]")


@pytest.fixture
def names():
    made = [f"pmipt-{uuid.uuid4().hex[:8]}-{end}" for end in ("sw", "h")]
    yield made
    for name in made:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def description(sw, host):
    return [
        {"name": "sw", "netns": sw, "create": True, "bridges": [{"name": "br0"}]},
        {
            "name": "host",
            "netns": host,
            "create": True,
            "links": [
                {
                    "name": "eth0",
                    "mac": "02:00:00:00:00:01",
                    "peer": {"node": "sw", "name": "p-host", "master": "br0"},
                }
            ],
            "addresses": [{"dev": "eth0", "address": "2001:db8::1/64"}],
            "routes": [{"to": "2001:db8:1::/64", "via": "2001:db8::2"}],
            "sysctls": [{"name": "net.ipv6.conf.all.forwarding", "value": 1}],
        },
    ]


@needs_root
def test_netns_present_idempotent_check_mode_and_absent(names, run_module):
    sw, host = names
    args = {"nodes": description(sw, host)}

    first = run_module(pmip_testbed_network, args)
    assert first["changed"] and not first.get("failed"), first
    assert f"ip netns add {sw}" in first["commands"]
    (eth0,) = ip_json(host, "link", "show", "dev", "eth0")
    assert eth0["address"] == "02:00:00:00:00:01" and "UP" in eth0["flags"]
    (port,) = ip_json(sw, "link", "show", "dev", "p-host")
    assert port["master"] == "br0"
    (addr,) = ip_json(host, "-6", "addr", "show", "dev", "eth0", "scope", "global")
    assert [(a["local"], a["prefixlen"]) for a in addr["addr_info"] if "local" in a] == [
        ("2001:db8::1", 64)
    ]
    assert [r["dst"] for r in ip_json(host, "-6", "route", "show", "2001:db8:1::/64")] == [
        "2001:db8:1::/64"
    ]

    again = run_module(pmip_testbed_network, args)
    assert again == {"changed": False, "commands": [], "invocation": again["invocation"]}

    # Down flushes the link's IPv6 addresses and so its routes: all three come back.
    subprocess.run(["ip", "-n", host, "link", "set", "eth0", "down"], check=True)
    check = run_module(pmip_testbed_network, args, check_mode=True)
    assert check["changed"]
    enter = f"nsenter --net=/run/netns/{host} --"
    assert check["commands"] == [
        f"{enter} ip link set eth0 up",
        f"{enter} ip addr add 2001:db8::1/64 dev eth0 nodad",
        f"{enter} ip -6 route replace 2001:db8:1::/64 via 2001:db8::2",
    ]
    (eth0,) = ip_json(host, "link", "show", "dev", "eth0")
    assert "UP" not in eth0["flags"], "check mode changed the link"

    fixed = run_module(pmip_testbed_network, args)
    assert fixed["commands"] == check["commands"]
    assert run_module(pmip_testbed_network, args)["changed"] is False

    gone = run_module(pmip_testbed_network, dict(args, state="absent"))
    assert gone["commands"] == [f"ip netns del {sw}", f"ip netns del {host}"]
    assert not os.path.exists(f"/run/netns/{sw}") and not os.path.exists(f"/run/netns/{host}")
    assert run_module(pmip_testbed_network, dict(args, state="absent"))["changed"] is False
