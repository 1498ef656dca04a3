"""A flood of unsupported Mobility Headers at a real LMA: its Binding Errors on the wire
stay within the configured rate limit (RFC 6275 §9.3.3), and it still serves a MAG.

5,000 well-formed MH packets of an unknown type from a forged-looking source (the
"rogue" namespace) are sent with a raw socket; every packet the LMA answers goes on
the wire, where dumpcap counts them. The bound is computed from the elapsed time
measured around the flood (start of sending to the moment the LMA has processed every
packet), so the assertion holds however slow the machine is: a per-source bucket can
never have given out more than burst + rate x elapsed tokens.
"""

from __future__ import annotations

import time

import pytest
import yaml

from pmip6d.wire import BindingError, decode
from pmip6d_lab.netlab import NetLab, wait_for

pytestmark = pytest.mark.netns

LMA = "2001:db8:ffff::1"
MAG = "2001:db8:ffff::11"
ROGUE = "2001:db8:ffff::99"
MN = ("mn1@lab.example", "02:00:00:00:00:01")
PACKETS = 5000
LIMITS = {
    "binding_errors_per_source": 20.0,
    "binding_error_burst": 10,
    "binding_errors_total": 40.0,
    "binding_error_total_burst": 20,
}

# Runs inside the rogue namespace: a raw MH socket (the kernel fills the checksum at
# offset 4, RFC 6275 §6.1.1) sending a minimal MH of type 200, which no RFC defines.
FLOOD = """
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 135)
s.setsockopt(socket.IPPROTO_RAW, 7, 4)
packet = bytes([59, 0, 200, 0, 0, 0, 0, 0])
for _ in range(int(sys.argv[2])):
    s.sendto(packet, (sys.argv[1], 0))
"""


def build(work, limits: dict) -> tuple[NetLab, dict]:
    lab = NetLab(work, prefix=f"bef{id(work) % 1000}-")
    (work / "policy.yml").write_text(
        yaml.safe_dump(
            {
                "domain": "lab.example",
                "mags": [{"name": "mag1", "address": MAG}, {"name": "rogue", "address": ROGUE}],
                "lmas": [{"name": "lma", "address": LMA, "accept_mags": ["mag1"]}],
                "mobile_nodes": [{"id": MN[0], "macs": [MN[1]], "lma": "lma"}],
            }
        )
    )
    sw = lab.ns("sw")
    lab.bridge(sw, "core")
    for name, address in (("lma", LMA), ("mag1", MAG), ("rogue", ROGUE)):
        ns = lab.ns(name)
        lab.veth(ns, "core0", sw, f"p-{name}")
        lab.enslave(sw, f"p-{name}", "core")
        ns.addr("core0", f"{address}/64")
    agents = {}
    for name, role, extra in (
        ("lma", "lma", {"prefix_pool": {"prefix": "2001:db8:100::/48", "length": 64}}),
        ("mag1", "mag", {}),
    ):
        config = work / f"{name}.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "name": name,
                    "policy": "policy.yml",
                    "control_socket": str(work / f"{name}.sock"),
                    "rate_limits": limits,
                    **extra,
                }
            )
        )
        agents[name] = lab.agent(lab.ns(name), role, config, work / f"{name}.sock")
    return lab, agents


def flood(lab: NetLab, agents: dict, packets: int) -> float:
    """Send the flood; seconds from its start until the LMA has processed all of it."""

    def processed() -> int:
        c = agents["lma"].counters()
        return c.get("binding_error_sent", 0) + c.get("binding_error_suppressed", 0)

    before = processed()
    started = time.monotonic()
    lab.ns("rogue").run("python3", "-c", FLOOD, LMA, str(packets), timeout=120)
    wait_for(lambda: processed() - before >= packets, timeout=60, what="the flood processed")
    return time.monotonic() - started


def binding_errors_on_wire(pcap) -> int:
    from scapy.layers.inet6 import IPv6
    from scapy.utils import rdpcap

    return sum(
        isinstance(decode(bytes(p[IPv6].payload)), BindingError)
        for p in rdpcap(str(pcap))
        if IPv6 in p and p[IPv6].src == LMA and p[IPv6].dst == ROGUE
    )


def test_binding_errors_stay_within_the_limit_and_the_lma_still_serves(tmp_path, netns_ok):
    lab, agents = build(tmp_path, LIMITS)
    try:
        pcap = tmp_path / "lma.pcapng"
        capture = lab.capture(lab.ns("lma"), "core0", pcap, f"ip6 proto 135 and src host {LMA}")
        elapsed = flood(lab, agents, PACKETS)
        time.sleep(0.3)  # the last answers reach the capture
        lab.stop_capture(capture)
        on_wire = binding_errors_on_wire(pcap)
        counters = agents["lma"].counters()
        bound = LIMITS["binding_error_burst"] + LIMITS["binding_errors_per_source"] * elapsed
        assert 1 <= on_wire <= bound, (on_wire, elapsed)
        assert on_wire == counters["binding_error_sent"]
        assert counters["binding_error_suppressed"] == PACKETS - on_wire
        # The agent is unharmed: a MAG registers an MN as usual.
        agents["mag1"].call("attach", mac=MN[1])
        wait_for(
            lambda: [r for r in agents["mag1"].bindings(mac=MN[1]) if r["state"] == "active"],
            timeout=10,
            what="the MN registered after the flood",
        )
    finally:
        lab.close()
