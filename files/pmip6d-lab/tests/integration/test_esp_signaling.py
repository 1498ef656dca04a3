"""ESP on the MAG<->LMA signaling (RFC 5213 §4), the agent's own implementation.

The real agents in namespaces (sigdomain: LMA and two MAGs on a core bridge,
layer-2 events through the control socket) with ``signaling_security`` and
generated keys. Checked on the wire, on the LMA's core link:

(a) registration and handover work, and nothing but ESP carries them;
(b) a PBU forged from the MAG's own address without ESP is dropped, counted,
    never answered, and binds nothing;
(c) tshark, an independent ESP implementation given the same keys, decrypts
    the capture and finds the Proxy Binding Updates and Acks inside.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pmip6d_lab import sigdomain
from pmip6d_lab.netlab import NetLab, wait_for

pytestmark = pytest.mark.netns

MAG1, MAG2 = sigdomain.MAG_ADDRESSES["mag1"], sigdomain.MAG_ADDRESSES["mag2"]
LMA = sigdomain.LMA

FORGE = """
import sys, time
from pmip6d.daemon.mhsocket import MobilityHeaderSocket
from pmip6d.wire import ProxyBindingUpdate, encode
from pmip6d.wire import timestamp as ts
from pmip6d.wire.constants import HandoffIndicator
pbu = ProxyBindingUpdate(
    sequence=1, lifetime_units=100, mn_id=sys.argv[3].encode(),
    handoff_indicator=HandoffIndicator.NEW_INTERFACE, access_technology_type=4,
    mn_link_layer_id=bytes.fromhex(sys.argv[4].replace(":", "")),
    link_local_address=bytes.fromhex("fe800000000000000000000000000001"),
    timestamp=ts.from_unix(time.time()),
)
sock = MobilityHeaderSocket(sys.argv[1])
sock.send(sys.argv[2], encode(pbu))
"""


@pytest.fixture(scope="module")
def domain(tmp_path_factory, netns_ok):
    work = tmp_path_factory.mktemp("esp")
    dom = sigdomain.build(work, prefix="espag-", mobile_nodes=3, esp="agent", log_level="info")
    try:
        pcap = work / "lma.pcapng"
        capture = dom.lab.capture(dom.lab.ns("lma"), "core0", pcap, "ip6 proto 50 or ip6 proto 135")
        yield dom, pcap, capture
    finally:
        dom.close()


def esp_status(dom, agent: str) -> dict:
    return dom.status(agent)["signaling_security"]


def lma_binding(dom, i: int) -> dict | None:
    rows = dom.call("lma", "bindings", mn_id=sigdomain.mn_id(i))
    return rows[0] if rows else None


def bound_at(dom, i: int, mag: str) -> dict:
    def check():
        row = lma_binding(dom, i)
        ok = row and row["state"] == "active" and row["proxy_coa"] == dom.mags[mag]
        return row if ok else None

    return wait_for(check, timeout=10, what=f"MN {i} bound at {mag}")


def test_a_registration_and_handover_over_esp(domain):
    dom, _pcap, _capture = domain
    assert esp_status(dom, "lma")["implementation"] == "agent"
    dom.attach("mag1", 1)
    first = bound_at(dom, 1, "mag1")
    dom.roam(1, "mag1", "mag2")
    second = bound_at(dom, 1, "mag2")
    assert second["hnps"] == first["hnps"]
    assert dom.wrong_places({1: "mag2"}) == []
    lma = esp_status(dom, "lma")
    # PBU at mag1, PBU at mag2, the deregistration from mag1 at least; as many PBAs back.
    assert lma["esp_received"] >= 3 and lma["esp_sent"] >= 3
    for name in ("esp_auth_failed", "esp_replayed", "esp_unknown_spi", "esp_malformed"):
        assert lma[name] == 0, name
    assert esp_status(dom, "mag2")["esp_received"] >= 1


def test_b_forged_unprotected_pbu_is_dropped_counted_and_unanswered(domain):
    dom, _pcap, _capture = domain
    before = esp_status(dom, "lma")
    counters_before = dom.counters("lma")
    mn = sigdomain.mn_id(2)
    dom.lab.ns("mag1").run(sys.executable, "-c", FORGE, MAG1, LMA, mn, sigdomain.mn_mac(2))
    wait_for(
        lambda: (
            esp_status(dom, "lma")["esp_unprotected_dropped"] > before["esp_unprotected_dropped"]
        ),
        timeout=5,
        what="the forged PBU counted",
    )
    after = esp_status(dom, "lma")
    assert after["esp_unprotected_dropped"] == before["esp_unprotected_dropped"] + 1
    assert after["esp_sent"] == before["esp_sent"]  # no PBA, no Binding Error
    assert lma_binding(dom, 2) is None
    counters_after = dom.counters("lma")
    # The machine never saw it: none of its message counters moved.
    moved = {
        k: (counters_before.get(k), v)
        for k, v in counters_after.items()
        if not k.startswith("security.")
        and counters_before.get(k) != v
        and not k.startswith(("heartbeat", "sent.HEARTBEAT", "received.HEARTBEAT"))
    }
    assert moved == {}, moved
    assert counters_after["security.esp_unprotected_dropped"] == after["esp_unprotected_dropped"]


def tshark(pcap: Path, sas, *fields: str) -> list[list[str]]:
    table = [
        f'"IPv6","{sa.source}","{sa.destination}","{sa.spi:#010x}",'
        f'"AES-GCM with 16 octet ICV [RFC4106]","0x{sa.key}","NULL",""'
        for sa in sas
    ]
    args = ["tshark", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE"]
    for row in table:
        args += ["-o", f"uat:esp_sa:{row}"]
    args += ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for field in fields:
        args += ["-e", field]
    # Not checked: a file still being written may end in half a block.
    out = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_c_only_esp_on_the_wire_and_tshark_decrypts_it(domain):
    dom, pcap, capture = domain
    fields = ("ip.src", "ipv6.src", "ipv6.nxt", "esp.spi", "mip6.mhtype", "mip6.mnid.identifier")
    # dumpcap writes what it has seen; wait for the last packet of test b to be in the file.
    wait_for(
        lambda: any(row[2] == "135" for row in tshark(pcap, [], *fields)),
        timeout=15,
        what="the forged PBU in the capture",
    )
    NetLab.stop_capture(capture)
    clear = tshark(pcap, [], *fields)
    assert clear, "nothing captured"
    by_proto: dict[str, list[str]] = {}
    for row in clear:
        by_proto.setdefault(row[2], []).append(row[1])
    # The only clear Mobility Header on the link is the forged one (test b), from MAG1.
    assert by_proto.get("135") == [MAG1]
    assert set(by_proto) == {"50", "135"}
    # Without the keys tshark sees no Mobility Header inside ESP.
    assert all(row[4] == "" for row in clear if row[2] == "50")

    decrypted = tshark(pcap, dom.esp_sas, *fields)
    inside = [row for row in decrypted if row[2] == "50"]
    assert inside and all(row[4] != "" for row in inside), "tshark could not decrypt"
    pbus = [row for row in inside if row[4] == "5"]
    pbas = [row for row in inside if row[4] == "6"]
    mn1 = sigdomain.mn_id(1)
    assert {(row[1], row[5]) for row in pbus} >= {(MAG1, mn1), (MAG2, mn1)}
    assert {row[1] for row in pbas} == {LMA}
    assert {row[5] for row in pbus + pbas} == {mn1}  # no answer about the forged MN 2
