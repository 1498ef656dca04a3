# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cable the emulated PMIPv6 testbed: named namespaces, bridges, veths, addresses, routes.

The logic of the ``pmip_testbed_network`` module, which the netlmm.pmipv6.testbed
role runs on the podman host (the controller, ``hosts: localhost``), as root, from
the host's own network namespace; it never touches the host's interfaces or
routes. The description is a list of nodes::

    NODE: {"name": str,              # what links point at (inventory name, netns name)
           "netns": "pid:N" | NAME,  # a container's namespace by a process in it, or
                                     # a named namespace (ip netns)
           "create": bool,           # NAME is ours: created (present), deleted (absent)
           "bridges":   [{"name", "mcast_snooping": false}],
           "links":     [{"name", "mac"?, "master"?, "state": "up"|"down",
                          "peer": {"node", "name", "mac"?, "master"?, "state",
                                   "runtime": false}}],
           "addresses": [{"dev", "address": "ADDR/LEN", "nodad": true}],
           "routes":    [{"to": PREFIX | "default", "via", "dev"?, "family": "inet6"}],
           "sysctls":   [{"name": "net....", "value"}]}

A ``runtime`` peer end is moved at run time (a radio port that pmip6d-ap plugs into
one AP bridge after another): its master and state are set only when the link is
created, and its absence is no reason to recreate the link.

Idempotent: everything is read back before anything changes, and nothing is removed
that the description does not name (addresses and routes the agents add stay). Each
veth is created in one step with both ends already in their namespaces, so a failed
run never leaves an end in the host's namespace. In check mode the commands are
only collected (a namespace still to be created reads as empty). Needs ip
(iproute2), nsenter and sysctl; commands run through the given runner.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
from collections.abc import Callable
from typing import Any


class CablingError(Exception):
    """The description cannot be applied; the message says why."""


_END = {"mac": None, "master": None, "state": "up", "runtime": False}
_LINK = {"mac": None, "master": None, "state": "up"}
_NODE = {
    "create": False,
    "bridges": [],
    "links": [],
    "addresses": [],
    "routes": [],
    "sysctls": [],
}


def _required(item: dict, where: str, *keys: str) -> None:
    if not isinstance(item, dict):
        raise CablingError(f"{where}: expected a mapping, got {item!r}")
    for key in keys:
        if item.get(key) in (None, ""):
            raise CablingError(f"{where}: {key} is required")


def normalize(nodes: Any) -> list[dict]:
    """Check the description's shape and fill in the defaults."""
    if not isinstance(nodes, list):
        raise CablingError("nodes: expected a list")
    out = []
    for i, node in enumerate(nodes):
        _required(node, f"nodes[{i}]", "name", "netns")
        node = {**_NODE, **node}
        where = f"node {node['name']}"
        for key in ("bridges", "links", "addresses", "routes", "sysctls"):
            if not isinstance(node[key], list):
                raise CablingError(f"{where}: {key}: expected a list")
        node["bridges"] = [{"mcast_snooping": False, **b} for b in node["bridges"]]
        for b in node["bridges"]:
            _required(b, f"{where}: bridges", "name")
        links = []
        for link in node["links"]:
            _required(link, f"{where}: links", "name", "peer")
            link = {**_LINK, **link}
            _required(link["peer"], f"{where}: link {link['name']}: peer", "node", "name")
            link["peer"] = {**_END, **link["peer"]}
            for end in (link, link["peer"]):
                if end["state"] not in ("up", "down"):
                    raise CablingError(f"{where}: link {link['name']}: state must be up or down")
            links.append(link)
        node["links"] = links
        node["addresses"] = [{"nodad": True, **a} for a in node["addresses"]]
        for a in node["addresses"]:
            _required(a, f"{where}: addresses", "dev", "address")
        node["routes"] = [{"dev": None, "family": "inet6", **r} for r in node["routes"]]
        for r in node["routes"]:
            _required(r, f"{where}: routes", "to", "via")
        for s in node["sysctls"]:
            _required(s, f"{where}: sysctls", "name")
            if "value" not in s:
                raise CablingError(f"{where}: sysctl {s['name']}: value is required")
        out.append(node)
    return out


class Node:
    """One network namespace; reads are cached until something in it changes."""

    def __init__(self, net: Net, spec: dict) -> None:
        self.net = net
        self.spec = spec
        self.name = spec["name"]
        ref = spec["netns"]
        if ref.startswith("pid:"):
            self.pid = ref[4:]
            if not self.pid.isdigit():
                raise CablingError(f"node {self.name}: bad netns {ref!r}")
            self.path = f"/proc/{self.pid}/ns/net"
            self.target = self.pid  # what `ip link ... netns X` accepts
            self.named = None
        else:
            self.pid = None
            self.named = ref
            self.path = f"/run/netns/{ref}"
            self.target = ref
        # In check mode a namespace that would be created is empty.
        self.virtual = False
        self._links: dict[str, dict] | None = None
        self._addrs: dict[str, set] | None = None

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def argv(self, *args: str) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--", *args]

    def read(self, *args: str) -> str:
        return self.net.read(self.argv(*args))

    def change(self, *args: str) -> None:
        self.net.change(self.argv(*args))
        self._links = None
        self._addrs = None

    def links(self) -> dict[str, dict]:
        if self.virtual:
            return {}
        if self._links is None:
            self._links = {
                link["ifname"]: link for link in json.loads(self.read("ip", "-j", "-d", "link"))
            }
        return self._links

    def addresses(self) -> dict[str, set]:
        if self.virtual:
            return {}
        if self._addrs is None:
            self._addrs = {}
            for link in json.loads(self.read("ip", "-j", "addr")):
                self._addrs[link["ifname"]] = {
                    ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
                    for a in link.get("addr_info", [])
                    if "local" in a
                }
        return self._addrs

    def routes(self, family: str) -> list[dict]:
        if self.virtual:
            return []
        flag = "-6" if family == "inet6" else "-4"
        return json.loads(self.read("ip", "-j", flag, "route", "show", "table", "main") or "[]")

    def sysctl(self, key: str) -> str | None:
        """The current value, or None when the key does not exist (yet)."""
        if self.virtual:
            return None
        rc, out, _err = self.net.run(self.argv("sysctl", "-n", key))
        return " ".join(out.split()) if rc == 0 else None


class Net:
    """The whole description; :meth:`present` or :meth:`absent` make it so.

    ``commands`` lists every change made (in check mode: that would be made), as
    shell-quoted command lines.
    """

    def __init__(
        self,
        nodes: list[dict],
        check_mode: bool,
        runner: Callable[[list[str]], tuple[int, str, str]],
    ) -> None:
        """``runner(argv)`` runs a command, returning ``(rc, stdout, stderr)``."""
        self.check_mode = check_mode
        self._runner = runner
        self.commands: list[str] = []
        self.nodes: dict[str, Node] = {}
        for spec in nodes:
            if spec["name"] in self.nodes:
                raise CablingError(f"node {spec['name']!r} is described twice")
            self.nodes[spec["name"]] = Node(self, spec)

    # ---------------------------------------------------------------- commands

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        try:
            return self._runner(argv)
        except OSError as exc:
            return 1, "", str(exc)

    def read(self, argv: list[str]) -> str:
        rc, out, err = self.run(argv)
        if rc != 0:
            raise CablingError(f"{shlex.join(argv)}: {err.strip()}")
        return out

    def change(self, argv: list[str]) -> None:
        self.commands.append(shlex.join(argv))
        if self.check_mode:
            return
        rc, _out, err = self.run(argv)
        if rc != 0:
            raise CablingError(f"{shlex.join(argv)}: {err.strip()}")

    def node(self, owner: Node, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise CablingError(f"node {owner.name}: link to unknown node {name!r}") from None

    # ---------------------------------------------------------------- present

    def present(self) -> None:
        for node in self.nodes.values():
            self.namespace(node)
        for node in self.nodes.values():
            self.sysctls(node, only_existing=True)
        for node in self.nodes.values():
            for bridge in node.spec["bridges"]:
                self.bridge(node, bridge)
        for node in self.nodes.values():
            for link in node.spec["links"]:
                self.veth(node, link)
        for node in self.nodes.values():
            for address in node.spec["addresses"]:
                self.address(node, address)
        for node in self.nodes.values():
            for route in node.spec["routes"]:
                self.route(node, route)
        for node in self.nodes.values():
            self.sysctls(node, only_existing=False)

    def namespace(self, node: Node) -> None:
        if node.exists():
            pass
        elif node.spec["create"] and node.named:
            self.change(["ip", "netns", "add", node.named])
            node.virtual = self.check_mode
        else:
            raise CablingError(
                f"node {node.name}: network namespace {node.path} does not exist"
                + (" (is the container running?)" if node.pid else "")
            )
        lo = node.links().get("lo")
        if node.virtual or (lo is not None and "UP" not in lo["flags"]):
            node.change("ip", "link", "set", "lo", "up")

    def sysctls(self, node: Node, only_existing: bool) -> None:
        """First pass before the links (so that new interfaces inherit ``default``
        values), second pass after them for per-interface keys."""
        if only_existing and node.virtual:
            return  # check mode, namespace to be created: the second pass reports
        for item in node.spec["sysctls"]:
            key, want = item["name"], item["value"]
            if isinstance(want, bool):
                want = int(want)
            want = " ".join(str(want).split())
            have = node.sysctl(key)
            if have is None and only_existing:
                continue  # a per-interface key whose interface comes later
            if have != want:
                node.change("sysctl", "-qw", f"{key}={want}")

    def bridge(self, node: Node, bridge: dict) -> None:
        name = bridge["name"]
        snooping = "1" if bridge["mcast_snooping"] else "0"
        link = node.links().get(name)
        if link is not None and link.get("linkinfo", {}).get("info_kind") != "bridge":
            raise CablingError(f"node {node.name}: {name} exists and is not a bridge")
        if link is None:
            node.change("ip", "link", "add", name, "type", "bridge", "mcast_snooping", snooping)
            node.change("ip", "link", "set", name, "up")
            return
        have = str(link["linkinfo"].get("info_data", {}).get("mcast_snooping", ""))
        if have != snooping:
            node.change("ip", "link", "set", name, "type", "bridge", "mcast_snooping", snooping)
        if "UP" not in link["flags"]:
            node.change("ip", "link", "set", name, "up")

    def veth(self, node: Node, link: dict) -> None:
        peer_spec = link["peer"]
        peer = self.node(node, peer_spec["node"])
        here = node.links().get(link["name"])
        there = peer.links().get(peer_spec["name"])
        for end, end_node, end_name in (
            (here, node, link["name"]),
            (there, peer, peer_spec["name"]),
        ):
            if end is not None and end.get("linkinfo", {}).get("info_kind") != "veth":
                raise CablingError(f"node {end_node.name}: {end_name} exists and is not a veth")
        created = False
        if here is None and there is not None:
            # Half a link: its other end went elsewhere. Start again.
            peer.change("ip", "link", "del", peer_spec["name"])
            there = None
        elif here is not None and there is None and not peer_spec["runtime"]:
            node.change("ip", "link", "del", link["name"])
            here = None
        if here is None:
            argv = ["ip", "link", "add", link["name"]]
            if link.get("mac"):
                argv += ["address", link["mac"]]
            argv += ["netns", node.target, "type", "veth", "peer", "name", peer_spec["name"]]
            if peer_spec.get("mac"):
                argv += ["address", peer_spec["mac"]]
            argv += ["netns", peer.target]
            self.change(argv)
            node._links = peer._links = None
            created = True
        self.end(node, link, here, created, runtime=False)
        if there is not None or created:
            self.end(peer, peer_spec, there, created, runtime=peer_spec["runtime"])

    def end(self, node: Node, spec: dict, have: dict | None, created: bool, runtime: bool) -> None:
        """Master, MAC and state of one veth end; a runtime end only when just created."""
        name = spec["name"]
        if created or have is None:
            if spec.get("master"):
                node.change("ip", "link", "set", name, "master", spec["master"])
            node.change("ip", "link", "set", name, spec["state"])
            return
        if spec.get("mac") and have.get("address", "").lower() != spec["mac"].lower():
            node.change("ip", "link", "set", name, "address", spec["mac"])
        if runtime:
            return
        if spec.get("master") and have.get("master") != spec["master"]:
            node.change("ip", "link", "set", name, "master", spec["master"])
        is_up = "UP" in have["flags"]
        if is_up != (spec["state"] == "up"):
            node.change("ip", "link", "set", name, spec["state"])

    def address(self, node: Node, item: dict) -> None:
        try:
            want = ipaddress.ip_interface(item["address"])
        except ValueError as exc:
            raise CablingError(f"node {node.name}: {exc}") from exc
        if "/" not in item["address"]:
            raise CablingError(f"node {node.name}: address {item['address']} needs a prefix length")
        if want in node.addresses().get(item["dev"], set()):
            return
        argv = ["ip", "addr", "add", str(want), "dev", item["dev"]]
        if item["nodad"] and want.version == 6:
            argv.append("nodad")
        node.change(*argv)

    def route(self, node: Node, item: dict) -> None:
        to = item["to"]
        family = item["family"]
        if to != "default":
            network = ipaddress.ip_network(to, strict=False)
            family = "inet6" if network.version == 6 else "inet"
            to = str(network)
        via = ipaddress.ip_address(item["via"])
        for route in node.routes(family):
            dst = route.get("dst")
            if dst != to and not (to == "default" and dst in ("::/0", "0.0.0.0/0")):
                continue
            gateways = [route.get("gateway")] + [
                h.get("gateway") for h in route.get("nexthops", [])
            ]
            if str(via) in gateways and item.get("dev") in (None, route.get("dev")):
                return
        argv = ["ip", "-6" if family == "inet6" else "-4", "route", "replace", to, "via", str(via)]
        if item.get("dev"):
            argv += ["dev", item["dev"]]
        node.change(*argv)

    # ---------------------------------------------------------------- absent

    def absent(self) -> None:
        for node in self.nodes.values():
            if node.spec["create"] and node.named and node.exists():
                self.change(["ip", "netns", "del", node.named])
