"""The paper's testbed (Fig. 4) in network namespaces on one host, with the real agents.

    CN ── LMA ══ core bridge ══ MAG1 ── AP1 ┐
                         ╚═════ MAG2 ── AP2 ┘ (both AP bridges in the "air" namespace)
                                              MN1, MN2 … radio links plugged into AP1 or AP2

Everything the agents do is real: raw Mobility Header sockets, kernel
tunnels (ip6tnl, seg6 or ebpf: ``backend``), unicast RAs, syslog from the
emulated APs (``pmip6d-ap``); the MNs are plain Linux stacks doing SLAAC.

With ``access="hwsim"`` the radio is real 802.11 instead (:mod:`.hwsim`): each
MAG hosts a hostapd AP on a mac80211_hwsim radio bridged to its access
interface, its trigger reads hostapd's control socket, and each MN runs
wpa_supplicant on a radio of its own (the ``air`` namespace stays empty, no ``pmip6d-ap``).
Used by the end-to-end tests, the handover benchmark and the demo. Needs root.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import emulated_ap, hwsim, stackview
from .netlab import Agent, Namespace, NetLab, wait_for

LMA = "2001:db8:ffff::1"
MAGS = {"mag1": "2001:db8:ffff::11", "mag2": "2001:db8:ffff::12"}
CN = "2001:db8:c::2"
POOL = "2001:db8:100::/48"
APS = {
    "ap1": {"mag": "mag1", "bssid": "0019.a9f0.0001", "mgmt": "fd00:a1::"},
    "ap2": {"mag": "mag2", "bssid": "0019.a9f0.0002", "mgmt": "fd00:a2::"},
}
DOMAIN = "lab.pmipv6.example"


@dataclass
class MobileNode:
    name: str
    mac: str
    ns: Namespace
    port: str
    """The AP end of its radio link (in the air namespace); empty with real radios."""
    ap: str | None = None
    station: hwsim.Station | None = None
    """With ``access="hwsim"``: the MN's wpa_supplicant."""

    @property
    def mn_id(self) -> str:
        return f"{self.name}@{DOMAIN}"

    def addresses(self, scope: str = "global") -> list[dict]:
        return stackview.addresses(self.ns.run, "wlan0", scope)

    def usable_addresses(self) -> list[str]:
        """Global addresses that finished DAD."""
        return stackview.usable_addresses(self.ns.run, "wlan0")

    def default_routers(self) -> list[tuple[str, str | None]]:
        """(router address, its MAC from the neighbour cache) for each default route."""
        return stackview.default_routers(self.ns.run, "wlan0")


@dataclass
class Domain:
    lab: NetLab
    work: Path
    agents: dict[str, Agent]
    mns: dict[str, MobileNode]
    aps_file: Path
    shared_addresses: bool
    probes: list[subprocess.Popen] = field(default_factory=list)
    esp_sas: list[EspSa] = field(default_factory=list)
    """With ``esp``: the generated SAs (keys included: a test bed's throwaway keys)."""
    wifi_aps: dict[str, hwsim.AccessPoint] = field(default_factory=dict)
    """With ``access="hwsim"``: the hostapd APs, by AP name."""

    def ap_tool(self, *args: str) -> dict[str, Any]:
        return emulated_ap.run_tool(self.aps_file, *args)

    def associate(self, mn: str, ap: str) -> dict[str, Any]:
        node = self.mns[mn]
        if node.station is not None:  # real 802.11: wpa_supplicant associates
            bssid = self.wifi_aps[ap].bssid
            if node.station.proc is None:
                node.station.start(bssid)
            else:
                node.station.roam(bssid)
            node.ap = ap
            return node.station.wait_associated(bssid)
        out = self.ap_tool(
            "associate",
            "--ap",
            ap,
            "--station",
            node.mac,
            "--port",
            node.port,
            "--name",
            mn.upper(),
        )
        node.ap = ap
        return out

    def roam(self, mn: str, ap: str) -> dict[str, Any]:
        node = self.mns[mn]
        if node.station is not None:  # an 802.11 reassociation to the other BSSID
            bssid = self.wifi_aps[ap].bssid
            node.station.roam(bssid)
            node.ap = ap
            return node.station.wait_associated(bssid)
        out = self.ap_tool(
            "roam", "--from", node.ap, "--to", ap, "--station", node.mac, "--port", node.port
        )
        node.ap = ap
        return out

    def binding(self, mn: str) -> dict | None:
        rows = self.agents["lma"].bindings(mn_id=self.mns[mn].mn_id)
        return rows[0] if rows else None

    def wait_address(self, mn: str, timeout: float = 10.0) -> str:
        """The MN's usable address from its home network prefix, once SLAAC is done."""
        node = self.mns[mn]

        def ready():
            row = self.binding(mn)
            if not row or not row["hnps"]:
                return None
            hnp = ipaddress.IPv6Network(row["hnps"][0])
            return next(
                (a for a in node.usable_addresses() if ipaddress.IPv6Address(a) in hnp), None
            )

        return wait_for(ready, timeout=timeout, interval=0.05, what=f"{mn}'s address from its HNP")

    def close(self) -> None:
        for proc in self.probes:
            proc.kill()
        for node in self.mns.values():
            if node.station is not None:
                node.station.stop()
        for ap in self.wifi_aps.values():
            ap.stop()
        self.lab.close()
        if self.wifi_aps:
            hwsim.unload()


@dataclass(frozen=True)
class EspSa:
    """One direction of the generated ESP keys (for a capture's decryption)."""

    source: str
    destination: str
    spi: int
    key: str
    algorithm: str


def esp_settings(
    lma: str, mags: dict[str, str], implementation: str = "agent", algorithm: str = "aes256-gcm16"
) -> tuple[dict, dict[str, dict], list[EspSa]]:
    """``signaling_security`` for the LMA and each MAG, with fresh random keys.

    SPIs: 0x1000 + n from the LMA to MAG n, 0x2000 + n back (n: the MAG's place).
    """
    key_bytes = {"aes128-gcm16": 20, "aes256-gcm16": 36}[algorithm]
    lma_sas, mag_security, table = [], {}, []
    for n, (name, address) in enumerate(mags.items(), 1):
        down = EspSa(lma, address, 0x1000 + n, os.urandom(key_bytes).hex(), algorithm)
        up = EspSa(address, lma, 0x2000 + n, os.urandom(key_bytes).hex(), algorithm)
        table += [down, up]
        lma_sas.append(
            {
                "peer": name,
                "algorithm": algorithm,
                "outbound": {"spi": down.spi, "key": down.key},
                "inbound": {"spi": up.spi, "key": up.key},
            }
        )
        mag_security[name] = {
            "mode": "esp",
            "implementation": implementation,
            "security_associations": [
                {
                    "peer": "lma",
                    "algorithm": algorithm,
                    "outbound": {"spi": up.spi, "key": up.key},
                    "inbound": {"spi": down.spi, "key": down.key},
                }
            ],
        }
    lma_security = {
        "mode": "esp",
        "implementation": implementation,
        "security_associations": lma_sas,
    }
    return lma_security, mag_security, table


def write_yaml(path: Path, data: dict) -> Path:
    """An agent config or policy file for the test beds (sigdomain uses it too)."""
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def build_domain(
    work: Path,
    *,
    prefix: str = "pd-",
    mobile_nodes: int = 2,
    shared_addresses: bool = True,
    tunnels: str = "static",
    backend: str = "auto",
    ra: dict | None = None,
    log_level: str = "info",
    lma_extra: dict | None = None,
    mag_extra: dict | None = None,
    esp: str | None = None,
    access: str = "emulated",
) -> Domain:
    """Create the namespaces, links and agents; MNs start unplugged. Close it when done.

    ``esp``: protect the signaling with ESP, generated keys, this implementation
    (``agent``, ``kernel`` or ``auto``); None: no signaling_security.
    ``access``: ``emulated`` (veths, ``pmip6d-ap`` syslog) or ``hwsim`` (802.11
    radios, hostapd, wpa_supplicant; needs mac80211_hwsim).
    """
    if access not in ("emulated", "hwsim"):
        raise ValueError(f"access: {access!r} is neither 'emulated' nor 'hwsim'")
    work.mkdir(parents=True, exist_ok=True)
    lab = NetLab(work, prefix=prefix)
    try:
        return _build(
            lab,
            work,
            mobile_nodes,
            shared_addresses,
            tunnels,
            backend,
            ra or {},
            log_level,
            lma_extra or {},
            mag_extra or {},
            esp,
            access,
        )
    except BaseException:
        lab.close()
        if access == "hwsim":
            hwsim.unload()
        raise


def _build(
    lab, work, n_mns, shared, tunnels, backend, ra, log_level, lma_extra, mag_extra, esp, access
) -> Domain:
    names = [f"mn{i}" for i in range(1, n_mns + 1)]
    macs = {name: f"02:00:00:00:{i:02x}:{i:02x}" for i, name in enumerate(names, 1)}
    write_yaml(
        work / "policy.yml",
        {
            "domain": DOMAIN,
            "mags": [{"name": n, "address": a} for n, a in MAGS.items()],
            "lmas": [{"name": "lma", "address": LMA, "accept_mags": list(MAGS)}],
            "mobile_nodes": [
                {"id": f"{n}@{DOMAIN}", "macs": [macs[n]], "lma": "lma"} for n in names
            ],
        },
    )
    # --- namespaces and links
    sw, air, lma, cn = lab.ns("sw"), lab.ns("air"), lab.ns("lma"), lab.ns("cn")
    lab.bridge(sw, "core")
    lab.veth(cn, "eth0", lma, "cn0")
    cn.addr("eth0", f"{CN}/64")
    lma.addr("cn0", "2001:db8:c::1/64")
    cn.run("ip", "-6", "route", "add", "default", "via", "2001:db8:c::1")
    for host, address in {"lma": LMA, **MAGS}.items():
        ns = lab.ns(host)
        lab.veth(ns, "core0", sw, f"p-{host}")
        lab.enslave(sw, f"p-{host}", "core")
        ns.addr("core0", f"{address}/64")
        ns.sysctl("net.ipv6.conf.all.forwarding", "1")
    aps_doc: dict = {"aps": {}}
    wifi_aps: dict[str, hwsim.AccessPoint] = {}
    radios = hwsim.load_radios(len(APS) + n_mns) if access == "hwsim" else []
    for i, (ap, info) in enumerate(APS.items()):
        mag = lab.ns(info["mag"])
        if radios:
            wifi_aps[ap] = _hwsim_ap(lab, work, ap, mag, radios[i])
            continue
        bridge = f"br-{ap}"
        lab.bridge(air, bridge)
        # No multicast snooping: like a plain AP, forward the RS/RA multicast frames.
        air.run("ip", "link", "set", bridge, "type", "bridge", "mcast_snooping", "0")
        lab.veth(mag, "acc0", air, f"up-{ap}")
        lab.enslave(air, f"up-{ap}", bridge)
        mag.sysctl("net.ipv6.conf.acc0.accept_ra", "0")
        mag.addr("acc0", f"{info['mgmt']}1/64")
        air.addr(bridge, f"{info['mgmt']}2/64")
        aps_doc["aps"][ap] = {
            "netns": air.name,
            "bridge": bridge,
            "bssid": info["bssid"],
            "syslog_from": f"{info['mgmt']}2",
            "syslog_to": f"{info['mgmt']}1",
        }
    aps_file = write_yaml(work / "aps.yml", aps_doc)
    mns = {}
    for i, name in enumerate(names):
        ns = lab.ns(name, dad=True)
        if radios:
            hwsim.move_radio(radios[len(APS) + i], ns, "wlan0")
            ns.run("ip", "link", "set", "wlan0", "address", macs[name])
            station = hwsim.Station(name, ns, work)
            mns[name] = MobileNode(name, macs[name], ns, "", station=station)
            continue
        lab.veth(ns, "wlan0", air, f"{name}r")
        ns.run("ip", "link", "set", "wlan0", "address", macs[name])
        air.run("ip", "link", "set", f"{name}r", "down")
        mns[name] = MobileNode(name, macs[name], ns, f"{name}r")
    # --- agents
    esp_sas: list[EspSa] = []
    mag_security: dict[str, dict] = {}
    if esp is not None:
        lma_security, mag_security, esp_sas = esp_settings(LMA, MAGS, esp)
        lma_extra = {"signaling_security": lma_security, **lma_extra}
    dataplane = {"core_interface": "core0", "backend": backend, "tunnels": tunnels, "linger": 5}
    write_yaml(
        work / "lma.yml",
        {
            "name": "lma",
            "policy": "policy.yml",
            "control_socket": str(work / "lma.sock"),
            "prefix_pool": {"prefix": POOL, "length": 64},
            "dataplane": dataplane,
            "log_level": log_level,
            **lma_extra,
        },
    )
    agents = {"lma": lab.agent(lma, "lma", work / "lma.yml", work / "lma.sock")}
    ra_settings = {
        "MinRtrAdvInterval": 1,
        "MaxRtrAdvInterval": 3,
        "AdvDefaultLifetime": 1800,
        "AdvLinkMTU": 1460,
        **ra,
    }
    for mag_name in MAGS:
        ap = next(a for a, i in APS.items() if i["mag"] == mag_name)
        write_yaml(
            work / f"{mag_name}.yml",
            {
                "name": mag_name,
                "policy": "policy.yml",
                "control_socket": str(work / f"{mag_name}.sock"),
                "dataplane": dataplane,
                "access": {
                    "interfaces": ["acc0"],
                    "shared_addresses": shared,
                    "router_advertisements": ra_settings,
                },
                "triggers": [_trigger(ap, wifi_aps.get(ap), work)],
                "log_level": log_level,
                **(
                    {"signaling_security": mag_security[mag_name]}
                    if mag_name in mag_security
                    else {}
                ),
                # "{mag}" in a value: this MAG's name (a state file of its own).
                **{
                    k: v.replace("{mag}", mag_name) if isinstance(v, str) else v
                    for k, v in mag_extra.items()
                },
            },
        )
        agents[mag_name] = lab.agent(
            lab.ns(mag_name), "mag", work / f"{mag_name}.yml", work / f"{mag_name}.sock"
        )
    return Domain(lab, work, agents, mns, aps_file, shared, esp_sas=esp_sas, wifi_aps=wifi_aps)


def _hwsim_ap(lab: NetLab, work: Path, ap: str, mag: Namespace, phy: str) -> hwsim.AccessPoint:
    """The MAG is the AP host: hostapd's radio bridged to the MAG's access interface acc0."""
    lab.bridge(mag, "acc0")
    mag.run("ip", "link", "set", "acc0", "type", "bridge", "mcast_snooping", "0")
    mag.sysctl("net.ipv6.conf.acc0.accept_ra", "0")
    radio = f"wl-{ap}"
    bssid = hwsim.phy_mac(phy)
    hwsim.move_radio(phy, mag, radio)
    wifi = hwsim.AccessPoint(ap, mag, radio, "acc0", work, bssid)
    wifi.start()
    return wifi


def _trigger(ap: str, wifi: hwsim.AccessPoint | None, work: Path) -> dict:
    if wifi is not None:
        # hostapd cannot tell a reassociation; every MN here has one radio, so a
        # connect at this AP is that radio moving here: Handoff Indicator 3.
        return {
            "type": "hostapd",
            "name": ap,
            "control": str(wifi.control),
            "interface": "acc0",
            "connect_hint": "reassociation",
            "local_dir": str(work),
        }
    return {
        "type": "cisco-syslog",
        # The MAG's own end of the AP link, not a wildcard.
        "listen": f"{APS[ap]['mgmt']}1",
        "port": 514,
        "aps": {f"{APS[ap]['mgmt']}2": {"name": ap, "interface": "acc0"}},
    }
