"""An LMA and MAGs in network namespaces that only signal, for many mobile nodes at once.

    LMA ══ core bridge ══ MAG1, MAG2 …   (no data plane, no access links, no MN stacks)

The agents are the real ``pmip6d`` processes exchanging PBU/PBA over raw
sockets; layer-2 events come through each MAG's control socket (``attach``,
``detach``), so hundreds or thousands of MNs need no namespace of their own.
Used by the loss tests and the convergence benchmark. Needs root.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pmip6d.control_client import ControlClient
from pmip6d.wire.constants import HandoffIndicator

from .netlab import Agent, NetLab
from .nsdomain import EspSa, esp_settings, write_yaml

LMA = "2001:db8:ffff::1"
MAG_ADDRESSES = {f"mag{i}": f"2001:db8:ffff::{0x10 + i:x}" for i in range(1, 9)}
POOL = "2001:db8:100::/40"
DOMAIN = "lab.pmipv6.example"


def mn_id(i: int) -> str:
    return f"mn{i}@{DOMAIN}"


def mn_mac(i: int) -> str:
    """A locally administered unicast MAC for MN number ``i`` (1 … 2**32-1)."""
    return "02:00:" + ":".join(f"{(i >> s) & 0xFF:02x}" for s in (24, 16, 8, 0))


@dataclass
class SignalingDomain:
    lab: NetLab
    work: Path
    agents: dict[str, Agent]
    mags: dict[str, str]
    """MAG name → its Proxy-CoA."""
    mobile_nodes: int
    _clients: dict[str, ControlClient] = field(default_factory=dict)
    esp_sas: list[EspSa] = field(default_factory=list)
    """With ``esp``: the generated SAs (a test bed's throwaway keys)."""

    def call(self, agent: str, cmd: str, **args: Any) -> Any:
        """One control request on a connection kept open per agent (thousands of attaches)."""
        client = self._clients.get(agent)
        if client is None:
            client = self._clients[agent] = ControlClient(self.agents[agent].socket, timeout=30)
        return client.call(cmd, **args)

    def attach(self, mag: str, i: int, handoff_indicator: int = HandoffIndicator.NEW_INTERFACE):
        self.call(mag, "attach", mac=mn_mac(i), handoff_indicator=int(handoff_indicator))

    def detach(self, mag: str, i: int) -> None:
        self.call(mag, "detach", mac=mn_mac(i))

    def roam(self, i: int, old: str, new: str) -> None:
        """What an AP's roam produces: the new AP's Reassociated (handoff indicator 3,
        same interface), then the old AP's ROAMED, a detach at the old MAG."""
        self.attach(new, i, HandoffIndicator.SAME_INTERFACE)
        self.detach(old, i)

    def lma_bindings(self) -> list[dict]:
        return self.call("lma", "bindings")

    def mag_bindings(self, mag: str) -> list[dict]:
        return self.call(mag, "bindings")

    def counters(self, agent: str) -> dict[str, int]:
        return self.call(agent, "counters")

    def status(self, agent: str) -> dict:
        return self.call(agent, "status")

    def wrong_places(self, home: dict[int, str]) -> list[str]:
        """What differs from "MN i is bound at ``home[i]`` and nowhere else", in words.

        Checked at the LMA (one active binding per MN, at the right Proxy-CoA) and at
        every MAG (an active entry for exactly the MNs at home there, nothing else).
        """
        problems: list[str] = []
        want = {mn_id(i): self.mags[mag] for i, mag in home.items()}
        seen: dict[str, str] = {}
        for row in self.lma_bindings():
            if row["mn_id"] in seen:
                problems.append(f"LMA: second binding for {row['mn_id']}")
            seen[row["mn_id"]] = row["proxy_coa"]
            if row["state"] != "active" or want.get(row["mn_id"]) != row["proxy_coa"]:
                problems.append(
                    f"LMA: {row['mn_id']} {row['state']} at {row['proxy_coa']}, "
                    f"wanted at {want.get(row['mn_id'])}"
                )
        problems += [f"LMA: no binding for {m}" for m in sorted(set(want) - set(seen))]
        for mag in self.mags:
            expected = {mn_mac(i) for i, at in home.items() if at == mag}
            rows = {row["mac"]: row["state"] for row in self.mag_bindings(mag)}
            problems += [f"{mag}: {mac} {rows[mac]}" for mac in rows if mac not in expected]
            problems += [
                f"{mag}: {mac} {rows.get(mac, 'missing')}"
                for mac in sorted(expected)
                if rows.get(mac) != "active"
            ]
        return problems

    def close(self) -> None:
        for client in self._clients.values():
            with contextlib.suppress(OSError):
                client.close()
        self.lab.close()


def build(
    work: Path,
    *,
    prefix: str,
    mobile_nodes: int,
    mags: int = 2,
    log_level: str = "warning",
    lma_extra: dict | None = None,
    mag_extra: dict | None = None,
    esp: str | None = None,
) -> SignalingDomain:
    """Namespaces, the core bridge and the agents; no MN attached yet. Close it when done.

    ``esp``: ESP on the signaling with generated keys, this implementation; None: none.
    """
    work.mkdir(parents=True, exist_ok=True)
    names = dict(list(MAG_ADDRESSES.items())[:mags])
    esp_sas: list[EspSa] = []
    mag_security: dict[str, dict] = {}
    if esp is not None:
        lma_security, mag_security, esp_sas = esp_settings(LMA, names, esp)
        lma_extra = {"signaling_security": lma_security, **(lma_extra or {})}
    lab = NetLab(work, prefix=prefix)
    try:
        write_yaml(
            work / "policy.yml",
            {
                "domain": DOMAIN,
                "mags": [{"name": n, "address": a} for n, a in names.items()],
                "lmas": [{"name": "lma", "address": LMA, "accept_mags": list(names)}],
                "mobile_nodes": [
                    {"id": mn_id(i), "macs": [mn_mac(i)], "lma": "lma"}
                    for i in range(1, mobile_nodes + 1)
                ],
            },
        )
        sw = lab.ns("sw")
        lab.bridge(sw, "core")
        for host, address in {"lma": LMA, **names}.items():
            ns = lab.ns(host)
            lab.veth(ns, "core0", sw, f"p-{host}")
            lab.enslave(sw, f"p-{host}", "core")
            ns.addr("core0", f"{address}/64")
        write_yaml(
            work / "lma.yml",
            {
                "name": "lma",
                "policy": "policy.yml",
                "control_socket": str(work / "lma.sock"),
                "prefix_pool": {"prefix": POOL, "length": 64},
                "log_level": log_level,
                **(lma_extra or {}),
            },
        )
        agents = {"lma": lab.agent(lab.ns("lma"), "lma", work / "lma.yml", work / "lma.sock")}
        for name in names:
            write_yaml(
                work / f"{name}.yml",
                {
                    "name": name,
                    "policy": "policy.yml",
                    "control_socket": str(work / f"{name}.sock"),
                    "log_level": log_level,
                    **({"signaling_security": mag_security[name]} if name in mag_security else {}),
                    **(mag_extra or {}),
                },
            )
            agents[name] = lab.agent(
                lab.ns(name), "mag", work / f"{name}.yml", work / f"{name}.sock"
            )
    except BaseException:
        lab.close()
        raise
    return SignalingDomain(lab, work, agents, names, mobile_nodes, esp_sas=esp_sas)
