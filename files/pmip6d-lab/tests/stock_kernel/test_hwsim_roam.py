"""Real 802.11: hostapd APs and a wpa_supplicant MN on mac80211_hwsim radios, end to end.

    CN ── LMA ══ MAG1 ─ acc0 bridge ─ hostapd AP1 (radio)  )))
             ╚══ MAG2 ─ acc0 bridge ─ hostapd AP2 (radio)  )))  MN: wpa_supplicant (radio)

Runs in the stock-kernel stage of scripts/test.sh only: Debian's kernel under
QEMU has mac80211_hwsim, the lab machines' kernel has not. The MN is an
unmodified Linux stack with wpa_supplicant (WPA2-PSK); no emulated AP process
is involved: each MAG learns of the (re)association from its hostapd's control
socket (the trigger's ``connect_hint: reassociation``, Handoff Indicator 3).
The roam is ``wpa_cli roam``: an 802.11 Reassociation Request to AP2, seen on
``hwsim0`` (hwsim's medium), whose time starts the handover's timeline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from pmip6d_lab import hwsim
from pmip6d_lab.netlab import wait_for
from pmip6d_lab.nsdomain import CN, MAGS, build_domain

pytestmark = pytest.mark.netns

PROBE = Path(__file__).parents[1] / "integration" / "udp_probe.py"
SHARED_ROUTER = [("fe80::1", "02:50:4d:49:50:36")]


def tshark(pcap: Path, display: str, *fields: str) -> list[list[str]]:
    args = ["tshark", "-r", str(pcap), "-Y", display, "-T", "fields", "-E", "separator=|"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=300)
    return [line.split("|") for line in out.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def domain(tmp_path_factory):
    assert hwsim.tools_missing() == [], "hostapd, wpa_supplicant, wpa_cli, iw: scripts/setup.sh"
    work = tmp_path_factory.mktemp("hwsim")
    dom = build_domain(work, prefix="hw-", mobile_nodes=1, access="hwsim")
    captures: dict[str, Path] = {}
    procs: list[subprocess.Popen] = []
    try:
        # hwsim0 (initial namespace) carries every frame of the simulated medium.
        subprocess.run(["ip", "link", "set", "hwsim0", "up"], check=True)
        captures["air"] = work / "air.pcapng"
        air = subprocess.Popen(
            ["dumpcap", "-q", "-i", "hwsim0", "-f", "type mgt", "-w", str(captures["air"])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(air)
        wait_for(captures["air"].exists, timeout=15, what="dumpcap on hwsim0")
        # MAG2's signaling (core) and its RAs (access link), for the roam's timeline.
        captures["core"] = work / "mag2-core.pcapng"
        dom.lab.capture(dom.lab.ns("mag2"), "core0", captures["core"], "ip6 and not ip6 proto 41")
        captures["access"] = work / "mag2-access.pcapng"
        dom.lab.capture(dom.lab.ns("mag2"), "acc0", captures["access"], "icmp6")
        dom.probes.append(dom.lab.ns("cn").popen(sys.executable, str(PROBE), "echo", "7000"))
        yield dom, captures
    finally:
        for proc in procs:
            dom.lab.stop_capture(proc)
        dom.close()


def l2_events(dom, mag: str) -> int:
    counters = dom.agents[mag].counters()
    return sum(v for k, v in counters.items() if k.startswith("trigger.") and k.endswith(".events"))


def test_wpa_supplicant_associates_and_hostapd_makes_mag1_register_it(domain):
    dom, _unused = domain
    mn1 = dom.mns["mn1"]
    status = dom.associate("mn1", "ap1")
    assert status["ssid"] == hwsim.SSID and status["key_mgmt"] == "WPA2-PSK", status
    assert mn1.mac in dom.wifi_aps["ap1"].stations()  # hostapd's own view
    row = wait_for(lambda: dom.binding("mn1"), timeout=30, what="mn1 registered at the LMA")
    assert row["proxy_coa"] == MAGS["mag1"]
    assert l2_events(dom, "mag1") >= 1  # the hostapd trigger, the only one configured
    address = dom.wait_address("mn1", timeout=60)
    assert ip_address(address) in ip_network(row["hnps"][0])
    assert mn1.default_routers() == SHARED_ROUTER
    timeline = dom.agents["mag1"].call("timeline")
    assert timeline[-1]["reason"] == "Connected" and timeline[-1]["total_ms"] is not None


def probe_after(result: Path, moved_at: float) -> tuple[int, int]:
    """(sent, echoed) among the datagrams sent more than a second after the move."""
    data = json.loads(result.read_text())
    sent = {int(k): v for k, v in data["sent"].items()}
    after = [s for s, t in sent.items() if t > moved_at - data["start"] + 1.0]
    return len(after), sum(1 for s in after if str(s) in data["echoed"])


def test_roam_keeps_address_router_and_flow_and_the_lma_points_at_mag2(domain):
    dom, _unused = domain
    mn1 = dom.mns["mn1"]
    address = dom.wait_address("mn1", timeout=60)
    before = dom.binding("mn1")
    out = dom.work / "probe.json"
    probe = mn1.ns.popen(sys.executable, str(PROBE), "probe", CN, "7000", "0.02", "300", str(out))
    try:
        wait_for(lambda: Path(f"{out}.started").exists(), timeout=60, what="the probe's flow")
        mn1.ns.run("ping", "-6", "-c", "2", "-i", "0.3", "-W", "3", "-I", address, CN)
        time.sleep(1.0)
        status = dom.roam("mn1", "ap2")
        moved_at = time.monotonic()
        assert status["bssid"] == dom.wifi_aps["ap2"].bssid
        row = wait_for(
            lambda: (r := dom.binding("mn1")) and r["proxy_coa"] == MAGS["mag2"] and r,
            timeout=30,
            what="the LMA points at MAG2",
        )
        assert row["hnps"] == before["hnps"] and row["handoffs"] == 1, row
        time.sleep(3.0)  # the flow after the move
        mn1.ns.run("ping", "-6", "-c", "2", "-i", "0.3", "-W", "3", "-I", address, CN)
    finally:
        probe.terminate()
        probe.wait(timeout=30)
    assert address in mn1.usable_addresses()
    assert mn1.default_routers() == SHARED_ROUTER  # same MAG link-local and MAC
    sent, echoed = probe_after(out, moved_at)
    assert sent > 50 and echoed >= 0.95 * sent, (sent, echoed)
    assert l2_events(dom, "mag2") >= 1
    wait_for(lambda: not dom.agents["mag1"].bindings(mac=mn1.mac), what="MAG1 forgets mn1")
    timeline = dom.agents["mag2"].call("timeline")
    assert timeline[-1]["reason"] == "Connected" and timeline[-1]["total_ms"] is not None


def test_the_timeline_starts_at_the_802_11_reassociation(domain):
    """On the wire: Reassociation Request (air) → PBU → PBA (MAG2's core) → RA (its access link)."""
    dom, captures = domain
    for proc in list(dom.lab.captures):
        dom.lab.stop_capture(proc)
    time.sleep(0.5)
    mn_mac = dom.mns["mn1"].mac
    bssid = dom.wifi_aps["ap2"].bssid
    # Subtype 2: Reassociation Request, from the MN to AP2.
    reassoc = tshark(
        captures["air"],
        f"wlan.fc.type_subtype == 2 && wlan.sa == {mn_mac} && wlan.da == {bssid}",
        "frame.time_epoch",
    )
    assert reassoc, "no Reassociation Request from the MN to AP2 on hwsim0"
    t_l2 = float(reassoc[-1][0])
    mh = tshark(captures["core"], "mip6.mhtype", "frame.time_epoch", "mip6.mhtype")
    pbu = [float(t) for t, kind in mh if kind == "5" and float(t) >= t_l2]
    pba = [float(t) for t, kind in mh if kind == "6" and float(t) >= t_l2]
    ras = tshark(captures["access"], "icmpv6.type == 134", "frame.time_epoch", "eth.dst")
    ra = [float(t) for t, dst in ras if dst == mn_mac and float(t) >= t_l2]
    assert pbu and pba and ra, (pbu, pba, ra)
    phases = {
        "reassociation_to_pbu_ms": (pbu[0] - t_l2) * 1000,
        "pbu_to_pba_ms": (pba[0] - pbu[0]) * 1000,
        "pba_to_ra_ms": (ra[0] - pba[0]) * 1000,
    }
    print("802.11 reassociation → PBU → PBA → RA on the VM's clock:", phases)
    assert all(0 <= v < 5000 for v in phases.values()), phases
    # The agent's own timeline (hostapd's event → PBU → PBA → RA) agrees with the wire.
    row = dom.agents["mag2"].call("timeline")[-1]
    assert row["l2_to_pbu_ms"] <= phases["reassociation_to_pbu_ms"] + 1.0, (row, phases)
