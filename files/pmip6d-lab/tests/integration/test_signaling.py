"""One LMA and MAGs in network namespaces exchanging real PBU/PBA over raw sockets.

The agents are the real ``pmip6d`` processes; layer-2 events are injected with
the control API (``pmipctl attach``). Every Mobility Header on the LMA's link is
captured, and at the end tshark — an independent implementation — must decode
every message cleanly, with the same values our agents report.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from pmip6d.wire import (
    BindingRevocationAck,
    BindingRevocationIndication,
    Heartbeat,
    ProxyBindingAck,
    ProxyBindingUpdate,
    checksum,
    decode,
)
from pmip6d.wire import timestamp as ts
from pmip6d_lab.netlab import NetLab, wait_for

pytestmark = pytest.mark.netns

LMA = "2001:db8:ffff::1"
MAGS = {
    "mag1": "2001:db8:ffff::11",
    "mag2": "2001:db8:ffff::12",
    "mag3": "2001:db8:ffff::13",
    "rogue": "2001:db8:ffff::99",
}
MN = {i: (f"mn{i}@lab.example", f"02:00:00:00:00:{i:02x}") for i in range(1, 7)}


def policy() -> dict:
    return {
        "domain": "lab.example",
        "mags": [{"name": n, "address": a} for n, a in MAGS.items()],
        "lmas": [{"name": "lma", "address": LMA, "accept_mags": ["mag1", "mag2", "mag3"]}],
        "mobile_nodes": [{"id": mn_id, "macs": [mac], "lma": "lma"} for mn_id, mac in MN.values()],
    }


@pytest.fixture(scope="module")
def domain(tmp_path_factory, netns_ok):
    work = tmp_path_factory.mktemp("signaling")
    lab = NetLab(work)
    try:
        (work / "policy.yml").write_text(yaml.safe_dump(policy()))
        sw = lab.ns("sw")
        lab.bridge(sw, "core")
        hosts = {"lma": LMA, **MAGS}
        for name, address in hosts.items():
            ns = lab.ns(name)
            lab.veth(ns, "core0", sw, f"p-{name}")
            lab.enslave(sw, f"p-{name}", "core")
            ns.addr("core0", f"{address}/64")
        pcap = work / "lma.pcapng"
        capture = lab.capture(lab.ns("lma"), "core0", pcap, "ip6 proto 135")
        (work / "lma.yml").write_text(
            yaml.safe_dump(
                {
                    "name": "lma",
                    "policy": "policy.yml",
                    "control_socket": str(work / "lma.sock"),
                    "prefix_pool": {"prefix": "2001:db8:100::/48", "length": 64},
                    "min_delay_before_bce_delete_ms": 1000,
                    "log_level": "debug",
                }
            )
        )
        agents = {"lma": lab.agent(lab.ns("lma"), "lma", work / "lma.yml", work / "lma.sock")}
        for name in MAGS:
            (work / f"{name}.yml").write_text(
                yaml.safe_dump(
                    {
                        "name": name,
                        "policy": "policy.yml",
                        "control_socket": str(work / f"{name}.sock"),
                        # Short lifetimes so refresh and expiry happen within the test.
                        "requested_lifetime": 8,
                        "refresh_fraction": 0.5,
                        "log_level": "debug",
                    }
                )
            )
            agents[name] = lab.agent(
                lab.ns(name), "mag", work / f"{name}.yml", work / f"{name}.sock"
            )
        yield lab, agents, pcap, capture
    finally:
        lab.close()


def lma_binding(agents, mn: int) -> dict | None:
    rows = agents["lma"].bindings(mn_id=MN[mn][0])
    return rows[0] if rows else None


def mag_binding(agents, mag: str, mn: int) -> dict | None:
    rows = agents[mag].bindings(mac=MN[mn][1])
    return rows[0] if rows else None


def attach(agents, mag: str, mn: int, **kw) -> None:
    agents[mag].call("attach", mac=MN[mn][1], **kw)


def active_at(agents, mag: str, mn: int) -> dict:
    def check():
        row = mag_binding(agents, mag, mn)
        return row if row and row["state"] == "active" else None

    return wait_for(check, timeout=5, what=f"{MN[mn][0]} active at {mag}")


def test_registration(domain):
    _unused, agents, _unused, _unused = domain
    attach(agents, "mag1", 1, interface="ap1")
    at_mag = active_at(agents, "mag1", 1)
    at_lma = lma_binding(agents, 1)
    assert at_lma["proxy_coa"] == MAGS["mag1"]
    assert at_lma["state"] == "active"
    assert at_lma["hnps"] == at_mag["hnps"] and len(at_lma["hnps"]) == 1
    assert at_lma["hnps"][0].startswith("2001:db8:100:") and at_lma["hnps"][0].endswith("/64")
    assert at_lma["mn_link_layer_id"] == MN[1][1]
    assert at_lma["mag_link_local"] == "fe80::1"
    assert at_lma["lifetime"] == 8


def test_refresh(domain):
    _unused, agents, _unused, _unused = domain
    attach(agents, "mag1", 2)
    first = active_at(agents, "mag1", 2)
    time.sleep(5)  # lifetime 8 s, refreshed at half of it
    again = mag_binding(agents, "mag1", 2)
    assert again["state"] == "active" and again["sequence"] != first["sequence"]
    assert again["hnps"] == first["hnps"]
    assert agents["lma"].counters()["refreshes"] >= 1
    assert lma_binding(agents, 2)["lifetime_remaining"] > 3


def test_handover_keeps_prefix_and_revokes_the_previous_mag(domain):
    _unused, agents, _unused, _unused = domain
    attach(agents, "mag1", 3, interface="ap1")
    before = active_at(agents, "mag1", 3)
    attach(agents, "mag2", 3, interface="ap2", handoff_indicator=3)
    after = active_at(agents, "mag2", 3)
    assert after["hnps"] == before["hnps"]
    wait_for(lambda: lma_binding(agents, 3)["proxy_coa"] == MAGS["mag2"], what="LMA points at MAG2")
    # RFC 5846: the LMA's revocation clears MAG1 with no layer-2 event there.
    wait_for(lambda: mag_binding(agents, "mag1", 3) is None, what="MAG1 forgets the MN")
    assert agents["mag1"].counters()["revoked"] >= 1
    # The AP's detach arrives late and finds nothing: no de-registration leaves MAG1
    # (a late one is answered and ignored, see the LMA unit tests).
    agents["mag1"].call("detach", mac=MN[3][1])
    assert agents["mag1"].counters()["detach_unknown"] >= 1
    time.sleep(1.5)  # longer than MinDelayBeforeBCEDelete
    row = lma_binding(agents, 3)
    assert row["proxy_coa"] == MAGS["mag2"] and row["state"] == "active"
    assert row["hnps"] == before["hnps"] and row["handoffs"] == 1


def test_deregistration(domain):
    _unused, agents, _unused, _unused = domain
    attach(agents, "mag2", 4)
    active_at(agents, "mag2", 4)
    agents["mag2"].call("detach", mac=MN[4][1])
    wait_for(
        lambda: (lma_binding(agents, 4) or {}).get("state") == "deregistering", what="deregistering"
    )
    assert (
        mag_binding(agents, "mag2", 4) is None
        or mag_binding(agents, "mag2", 4)["state"] != "active"
    )
    wait_for(lambda: lma_binding(agents, 4) is None, timeout=5, what="BCE deleted after MinDelay")


def test_expiry_when_the_mag_goes_silent(domain):
    _unused, agents, _unused, _unused = domain
    attach(agents, "mag3", 5)
    active_at(agents, "mag3", 5)
    expired_before = agents["lma"].counters().get("expirations", 0)
    agents["mag3"].signal(signal.SIGKILL)
    wait_for(lambda: lma_binding(agents, 5) is None, timeout=12, what="binding expiry")
    assert agents["lma"].counters()["expirations"] == expired_before + 1


def test_reject_for_unauthorized_mag(domain):
    _unused, agents, _unused, _unused = domain
    attach(agents, "rogue", 6)
    wait_for(
        lambda: agents["rogue"].counters().get("rejected.MAG_NOT_AUTHORIZED_FOR_PROXY_REG"),
        what="reject at the rogue MAG",
    )
    assert mag_binding(agents, "rogue", 6) is None
    assert lma_binding(agents, 6) is None
    assert agents["lma"].counters()["rejected.MAG_NOT_AUTHORIZED_FOR_PROXY_REG"] == 1
    log = (agents["rogue"].log).read_text()
    assert "MAG_NOT_AUTHORIZED_FOR_PROXY_REG" in log and "gets no service" in log


# ------------------------------------------------------------------ independent peer: tshark

FIELDS = [
    "frame.number",
    "ipv6.src",
    "ipv6.dst",
    "mip6.mhtype",
    "mip6.bu.seqnr",
    "mip6.ba.seqnr",
    "mip6.bu.lifetime",
    "mip6.ba.lifetime",
    "mip6.ba.status",
    "mip6.bu.p_flag",
    "mip6.ba.p_flag",
    "mip6.mnid.identifier",
    "mip6.hi",
    "mip6.att",
    "mip6.lila_lla",
    "mip6.nemo.mnp.mnp",
    "mip6.nemo.mnp.pfl",
    "mip6.mnlli.lli",
    "mip6.hb.u_flag",
    "mip6.hb.r_flag",
    "mip6.hb.seqnr",
    "mip6.rc",
    "mip6.bri_br.type",
    "mip6.bri_r.trigger",
    "mip6.bri_status",
    "mip6.bri_seqnr",
    "mip6.bri_ip",
    "mip6.bri_ap",
    "_ws.malformed",
    "_ws.expert.severity",
]


def tshark_rows(pcap: Path) -> list[dict]:
    args = [
        "tshark",
        "-r",
        str(pcap),
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]
    for field in FIELDS:
        args += ["-e", field]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in out.splitlines()]


def raw_packets(pcap: Path) -> list[tuple[str, str, bytes]]:
    """(src, dst, Mobility Header bytes) of every captured packet, straight from the file."""
    from scapy.layers.inet6 import IPv6
    from scapy.utils import rdpcap

    return [(p[IPv6].src, p[IPv6].dst, bytes(p[IPv6].payload)) for p in rdpcap(str(pcap))]


def check_revocation_row(row: dict, src: str, dst: str, ours) -> None:
    """RFC 5846 messages: the LMA's BRI to the MAG a handover left, the MAG's BRA."""
    assert int(row["mip6.bri_seqnr"]) == ours.sequence
    if isinstance(ours, BindingRevocationIndication):
        assert src == LMA and dst in MAGS.values()
        assert row["mip6.bri_br.type"] == "1" and row["mip6.bri_ip"] in ("True", "1")
        assert int(row["mip6.bri_r.trigger"]) == ours.trigger
        prefix = f"{row['mip6.nemo.mnp.mnp']}/{row['mip6.nemo.mnp.pfl']}"
        assert [prefix] == [str(p) for p in ours.home_network_prefixes]
    else:
        assert dst == LMA
        assert row["mip6.bri_br.type"] == "2" and row["mip6.bri_ap"] in ("True", "1")
        assert int(row["mip6.bri_status"]) == ours.status


def test_tshark_decodes_every_message_like_we_do(domain):
    lab, agents, pcap, capture = domain
    time.sleep(0.5)
    lab.stop_capture(capture)
    rows = tshark_rows(pcap)
    packets = raw_packets(pcap)
    assert len(rows) == len(packets) >= 12
    kinds = {r["mip6.mhtype"] for r in rows}
    # 13: the RFC 5847 heartbeats that start with the first PBU to a peer;
    # 16: the RFC 5846 revocation of MAG1's binding at the handover.
    assert kinds == {"5", "6", "13", "16"}, kinds
    statuses = set()
    heartbeats = []
    for row, (src, dst, mh) in zip(rows, packets, strict=True):
        assert row["_ws.malformed"] == "", f"tshark: malformed frame {row['frame.number']}"
        assert "4194304" not in row["_ws.expert.severity"], (
            f"expert error in frame {row['frame.number']}"
        )
        # The checksum on the wire was filled in by the kernel; it must verify.
        assert int.from_bytes(mh[4:6], "big") == checksum(src, dst, mh), f"bad checksum {row}"
        ours = decode(mh)
        if isinstance(ours, Heartbeat):
            assert row["mip6.hb.r_flag"] in (("True", "1") if ours.response else ("False", "0"))
            assert row["mip6.hb.u_flag"] in ("False", "0") and not ours.unsolicited
            assert int(row["mip6.hb.seqnr"]) == ours.sequence
            assert row["mip6.rc"] == (
                "" if ours.restart_counter is None else str(ours.restart_counter)
            )
            heartbeats.append((src, dst, ours))
            continue
        assert row["mip6.mnid.identifier"] == ours.mn_id.decode()
        if isinstance(ours, (BindingRevocationIndication, BindingRevocationAck)):
            check_revocation_row(row, src, dst, ours)
            continue
        assert isinstance(ours, (ProxyBindingUpdate, ProxyBindingAck))
        assert int(row["mip6.hi"]) == ours.handoff_indicator
        assert int(row["mip6.att"]) == ours.access_technology_type
        assert row["mip6.lila_lla"] == "fe80::1"
        assert row["mip6.mnlli.lli"].replace(":", "") == ours.mn_link_layer_id.hex()
        prefixes = [
            f"{a}/{n}"
            for a, n in zip(
                row["mip6.nemo.mnp.mnp"].split(","),
                row["mip6.nemo.mnp.pfl"].split(","),
                strict=True,
            )
        ]
        assert prefixes == [str(p) for p in ours.home_network_prefixes]
        if isinstance(ours, ProxyBindingUpdate):
            assert (src, dst) != (LMA, LMA) and dst == LMA
            assert row["mip6.bu.p_flag"] in ("True", "1")
            assert int(row["mip6.bu.seqnr"]) == ours.sequence
            assert int(row["mip6.bu.lifetime"]) == ours.lifetime_units
            # The timestamp is 48.16 seconds since 1970, close to the capture time.
            assert abs(ts.to_unix(ours.timestamp) - time.time()) < 600
        else:
            assert src == LMA
            assert row["mip6.ba.p_flag"] in ("True", "1")
            assert int(row["mip6.ba.seqnr"]) == ours.sequence
            assert int(row["mip6.ba.lifetime"]) == ours.lifetime_units
            assert int(row["mip6.ba.status"]) == ours.status
            statuses.add(ours.status)
    assert {0, 154} <= statuses
    # Requests both ways; only the LMA's responses carry a restart counter; the rogue
    # MAG's requests are not answered.
    assert {(s, d) for s, d, m in heartbeats if not m.response} >= {
        (MAGS["mag1"], LMA),
        (LMA, MAGS["mag1"]),
    }
    answers = [(s, d, m) for s, d, m in heartbeats if m.response]
    assert all((m.restart_counter is not None) == (s == LMA) for s, _d, m in answers)
    assert not [1 for s, d, m in answers if d == MAGS["rogue"]]
    # The prefix tshark saw in MN1's PBA is the one the LMA reports now.
    mn1 = [
        r
        for r, (src, _unused, _unused) in zip(rows, packets, strict=True)
        if src == LMA and r["mip6.mnid.identifier"] == MN[1][0] and r["mip6.ba.status"] == "0"
    ]
    assert mn1 and mn1[0]["mip6.nemo.mnp.mnp"] + "/64" == lma_binding(agents, 1)["hnps"][0]
