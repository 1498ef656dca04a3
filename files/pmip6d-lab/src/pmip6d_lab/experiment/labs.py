"""What the runner needs from a testbed (:class:`Lab`), and the namespace testbed as one.

A lab is data — the LMA, the MAGs, the APs, the CN, where their agents' control
sockets are, the emulated APs' file — plus one way to run a command in any of
its hosts' network namespaces *from this machine*: a named namespace (``ip
netns exec NAME``) or a process's (``nsenter --net=/proc/PID/ns/net``, e.g. a
container's). Commands so run are this machine's binaries (``dumpcap``,
``iperf3``, ``ip``, ``ss``) writing this machine's files, on one kernel clock,
so every capture of a run is stamped by the same clock.

Two labs implement it:

* :func:`namespace_lab` — the namespace testbed of :mod:`pmip6d_lab.nsdomain`, built by
  the runner per scenario (the agents are processes here);
* :func:`pmip6d_lab.experiment.podmanlab.podman_lab` — a deployed lab described by an
  Ansible inventory whose hosts are podman containers (``inventories/emulated``),
  configured per scenario by ``playbooks/experiment.yml``.

Mobile nodes (:class:`Station`) are network namespaces whose ``wlan0`` is a veth; its
other end (the *radio port*) sits in the radio medium namespace, plugged into one AP's
bridge at a time (:class:`pmip6d_lab.experiment.air.Air` moves it).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import stackview
from ..netlab import sh, wait_for


def netns_argv(netns: str | None, *args: str) -> list[str]:
    """``args`` run in ``netns``: a named namespace, ``pid:N`` (that process's network
    namespace, e.g. a container's) or None (this one)."""
    if netns is None:
        return list(args)
    if netns.startswith("pid:"):
        return ["nsenter", f"--net=/proc/{netns[4:]}/ns/net", "--", *args]
    return ["ip", "netns", "exec", netns, *args]


@dataclass(frozen=True)
class Host:
    """A host of the lab as a network namespace this machine can run commands in."""

    name: str
    """Its name in the lab (inventory name): lma, mag1, cn, an MN's name …"""
    netns: str
    """A named namespace, or ``pid:N`` for a container's (see :func:`netns_argv`)."""

    def argv(self, *args: str) -> list[str]:
        return netns_argv(self.netns, *args)

    def run(self, *args: str, check: bool = True, timeout: float = 30):
        return sh(*self.argv(*args), check=check, timeout=timeout)

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), **kw)


@dataclass
class AgentNode:
    """The LMA or a MAG: its host, its addresses, its control socket (a path on this machine)."""

    name: str
    role: str
    """lma | mag"""
    host: Host
    address: str
    """LMAA or Proxy-CoA."""
    core_interface: str
    control_socket: Path
    access_interface: str | None = None
    """MAG: the access interface its AP is cabled to."""
    access_address: str | None = None
    """MAG: its address on the access link (where the APs' syslog arrives)."""
    syslog_interface: str | None = None
    """MAG: where its APs' syslog arrives when that is not the access interface (a
    management link MNs cannot send on, as in the podman lab); captured as ``syslog``."""
    config_file: Path | None = None
    """The agent's configuration file as this machine sees it (for its ESP SAs)."""


@dataclass
class ApNode:
    name: str
    mag: str
    bssid: str
    address: str
    """Management address: the syslog source."""
    syslog_to: str
    bridge: str
    """The AP's bridge in the radio medium namespace (its BSS)."""


@dataclass
class CnNode:
    name: str
    host: Host
    address: str
    interface: str


@dataclass
class Station:
    """A mobile node: a plain Linux stack doing SLAAC in its own network namespace."""

    name: str
    mac: str
    mn_id: str
    host: Host
    port: str
    """The radio port: the AP end of its ``wlan0`` veth, in the radio medium namespace."""
    interface: str = "wlan0"
    ap: str | None = None
    """The AP whose bridge the radio port is in now (None: unplugged)."""

    def addresses(self, scope: str = "global") -> list[dict]:
        return stackview.addresses(self.host.run, self.interface, scope)

    def usable_addresses(self) -> list[str]:
        """Global addresses that finished DAD."""
        return stackview.usable_addresses(self.host.run, self.interface)

    def address_in(self, prefix: str | None) -> str | None:
        """The usable address from ``prefix`` (its home network prefix), if it has one."""
        if not prefix:
            return None
        net = ipaddress.IPv6Network(prefix)
        return next((a for a in self.usable_addresses() if ipaddress.IPv6Address(a) in net), None)

    def default_routers(self) -> list[tuple[str, str | None]]:
        """(router address, its MAC from the neighbour cache) for each default route."""
        return stackview.default_routers(self.host.run, self.interface)


@dataclass
class Lab:
    """A PMIPv6 testbed the runner can drive (see the module docstring)."""

    kind: str
    """namespaces | podman"""
    lma: AgentNode
    mags: dict[str, AgentNode]
    aps: dict[str, ApNode]
    cn: CnNode
    aps_file: Path
    """The emulated APs (``pmip6d-ap -c``): radio bridges, syslog sources."""
    air_netns: str
    """The radio medium: the named namespace of the APs' bridges and the MNs' radio ports."""
    domain: str
    syslog_port: int = 514
    info: dict[str, Any] = field(default_factory=dict)
    """More about the testbed for ``meta.json`` → ``testbed``."""

    # ------------------------------------------------------------------ hosts and agents
    def node(self, name: str) -> AgentNode:
        if name == self.lma.name:
            return self.lma
        return self.mags[name]

    def call(self, agent: str, cmd: str, **args: Any) -> Any:
        """One control-socket command to the agent ``agent`` (lma, mag1 …)."""
        from pmip6d.cli import ControlClient

        client = ControlClient(self.node(agent).control_socket)
        try:
            return client.call(cmd, **args)
        finally:
            client.close()

    def binding(self, station: Station) -> dict | None:
        """The LMA's binding cache entry of the MN, if any."""
        rows = self.call(self.lma.name, "bindings", mn_id=station.mn_id)
        return rows[0] if rows else None

    def tunnels(self, agent: str, to: str | None = None) -> int:
        """How many of the agent's tunnels are up (to the address ``to`` if given)."""
        status = self.call(agent, "status")
        rows = (status.get("dataplane") or {}).get("tunnels") or []
        return sum(
            1 for r in rows if r.get("installed", True) and (to is None or r["address"] == to)
        )

    def wait_agents(self, timeout: float = 30.0) -> None:
        """Until every agent answers on its control socket (after a restart)."""
        for node in (self.lma, *self.mags.values()):

            def ready(node=node) -> bool:
                try:
                    return self.call(node.name, "ping") == "pong"
                except (OSError, RuntimeError, ValueError):
                    return False

            wait_for(ready, timeout=timeout, interval=0.1, what=f"{node.name}'s control socket")

    def wait_address(self, station: Station, timeout: float = 30.0) -> str:
        """The MN's usable address from its home network prefix, once SLAAC is done."""

        def ready():
            row = self.binding(station)
            return station.address_in((row or {}).get("hnps", [None])[0]) if row else None

        return wait_for(
            ready, timeout=timeout, interval=0.05, what=f"{station.name}'s address from its HNP"
        )

    # ------------------------------------------------------------------ topology
    def mag_of(self, ap: str) -> str:
        return self.aps[ap].mag

    def ap_of(self, mag: str) -> str:
        return next(a.name for a in self.aps.values() if a.mag == mag)

    def ap_tool(self, *args: str) -> dict[str, Any]:
        """``pmip6d-ap -c <aps file> ARGS`` (the emulated APs' command); its JSON answer."""
        from .. import emulated_ap

        return emulated_ap.run_tool(self.aps_file, *args)

    # ------------------------------------------------------------------ meta.json
    def static_meta(self) -> dict[str, Any]:
        """The testbed's part of ``meta.json`` (the same for every run of a scenario)."""
        mags = {}
        for name, node in self.mags.items():
            acc = link_addresses(node.host, node.access_interface or "")
            mags[name] = {
                "address": node.address,
                "core_interface": node.core_interface,
                "access_interface": node.access_interface,
                "access_address": node.access_address,
                "syslog_interface": node.syslog_interface or node.access_interface,
                "access_mac": acc.get("mac"),
                "access_link_local": acc.get("link_local"),
                "ap": self.ap_of(name),
                "namespace": node.host.netns,
            }
        aps = {
            ap.name: {
                "mag": ap.mag,
                "bssid": ap.bssid,
                "address": ap.address,
                "syslog_to": ap.syslog_to,
                "bridge": ap.bridge,
            }
            for ap in self.aps.values()
        }
        return {
            "cn": {
                "address": self.cn.address,
                "interface": self.cn.interface,
                "namespace": self.cn.host.netns,
            },
            "lma": {
                "address": self.lma.address,
                "core_interface": self.lma.core_interface,
                "namespace": self.lma.host.netns,
            },
            "mags": mags,
            "aps": aps,
            "syslog_port": self.syslog_port,
        }

    def esp_sas(self) -> list[dict[str, Any]]:
        """The ESP SAs of the signaling (RFC 5213 §4), read from the agents' files, so that
        the analysis can open the PBUs and PBAs in the captures: per direction source,
        destination, SPI, algorithm and key. Empty when the agents signal in clear.

        They go into the run directory (``esp-sas.json``, mode 0600) beside the captures
        they open, never into meta.json or the report."""
        import yaml

        nodes = {self.lma.name: self.lma, **self.mags}
        out = []
        for node in nodes.values():
            if node.config_file is None:
                continue
            doc = yaml.safe_load(Path(node.config_file).read_text()) or {}
            security = doc.get("signaling_security") or {}
            if security.get("mode", "esp") != "esp":
                continue
            for sa in security.get("security_associations") or []:
                peer = nodes.get(sa.get("peer"))
                if peer is None:
                    continue
                out.append(
                    {
                        "source": node.address,
                        "destination": peer.address,
                        "spi": int(sa["outbound"]["spi"]),
                        "algorithm": sa.get("algorithm", "aes256-gcm16"),
                        "key": sa["outbound"]["key"],
                    }
                )
        return out

    def access_state(self) -> dict[str, dict[str, Any]]:
        """Per MAG what its agent reports of its access link(s) and data plane."""
        out = {}
        for name in self.mags:
            status = self.call(name, "status")
            access = status.get("access") or {}
            first = next(iter(access.values()), {}) if access else {}
            out[name] = {
                "mac": first.get("mac"),
                "link_local": first.get("link_local") or status.get("link_local_address"),
                "tunnels": (status.get("dataplane") or {}).get("mode"),
            }
        return out


def link_addresses(host: Host, ifname: str) -> dict[str, Any]:
    """MAC, link-local and global addresses of an interface (empty if it is not there)."""
    if not ifname:
        return {}
    result = host.run("ip", "-j", "addr", "show", "dev", ifname, check=False)
    info = json.loads(result.stdout or "[]") if result.returncode == 0 else []
    if not info:
        return {}
    addrs = [a for a in info[0].get("addr_info", []) if a.get("local")]
    return {
        "mac": info[0].get("address"),
        "link_local": [a["local"] for a in addrs if a.get("scope") == "link"],
        "addresses": [a["local"] for a in addrs if a.get("scope") == "global"],
    }


def scenario_mismatch(
    scenario: int, lma_tunnels: str | None, mags: dict[str, dict[str, Any]]
) -> list[str]:
    """What in the agents' reported state contradicts ``scenario`` (empty: it matches).

    Scenario 1: every MAG its own access MAC and link-local address; 2 and 3: one for
    all; tunnels static in 1 and 2, dynamic in 3 (the LMA's and every MAG's)."""
    want = "dynamic" if scenario == 3 else "static"
    problems = []
    if lma_tunnels != want:
        problems.append(f"the LMA's tunnels are {lma_tunnels}, scenario {scenario} needs {want}")
    for name, state in sorted(mags.items()):
        if state.get("tunnels") != want:
            problems.append(f"{name}'s tunnels are {state.get('tunnels')}, not {want}")
    macs = {state.get("mac") for state in mags.values()}
    lls = {state.get("link_local") for state in mags.values()}
    if len(mags) > 1:
        shared = len(macs) == 1 and len(lls) == 1
        if scenario == 1 and (len(macs) == 1 or len(lls) == 1):
            problems.append(
                "the MAGs share their access "
                + ("MAC" if len(macs) == 1 else "link-local address")
                + f" ({', '.join(sorted(str(m) for m in (macs if len(macs) == 1 else lls)))}); "
                "scenario 1 needs per-MAG addresses"
            )
        elif scenario != 1 and not shared:
            problems.append(
                f"the MAGs' access MACs / link-local addresses differ ({sorted(map(str, macs))} "
                f"/ {sorted(map(str, lls))}); scenario {scenario} needs one for all"
            )
    return problems


# --------------------------------------------------------------------------- namespaces


def namespace_lab(dom) -> Lab:
    """The namespace testbed of :func:`pmip6d_lab.nsdomain.build_domain` as a :class:`Lab`."""
    from ..nsdomain import APS, CN, DOMAIN, LMA, MAGS

    def host(name: str) -> Host:
        return Host(name, dom.lab.ns(name).name)

    lma = AgentNode(
        "lma",
        "lma",
        host("lma"),
        LMA,
        "core0",
        dom.agents["lma"].socket,
        config_file=dom.agents["lma"].config,
    )
    mags = {}
    for mag, address in MAGS.items():
        ap = next(a for a, i in APS.items() if i["mag"] == mag)
        mags[mag] = AgentNode(
            mag,
            "mag",
            host(mag),
            address,
            "core0",
            dom.agents[mag].socket,
            access_interface="acc0",
            access_address=f"{APS[ap]['mgmt']}1",
            config_file=dom.agents[mag].config,
        )
    aps = {
        ap: ApNode(
            ap,
            info["mag"],
            info["bssid"],
            f"{info['mgmt']}2",
            f"{info['mgmt']}1",
            f"br-{ap}",
        )
        for ap, info in APS.items()
    }
    return Lab(
        kind="namespaces",
        lma=lma,
        mags=mags,
        aps=aps,
        cn=CnNode("cn", host("cn"), CN, "eth0"),
        aps_file=dom.aps_file,
        air_netns=dom.lab.ns("air").name,
        domain=DOMAIN,
        info={"prefix": dom.lab.prefix},
    )


def namespace_stations(dom) -> dict[str, Station]:
    """The domain's mobile nodes (``dom.mns``) as stations."""
    return {
        name: Station(name, node.mac, node.mn_id, Host(name, node.ns.name), node.port)
        for name, node in dom.mns.items()
    }
