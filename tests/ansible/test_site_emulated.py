"""site.yml on the emulated lab (rootful podman containers on this machine).

Converges from nothing (testbed, agents, APs, the MN attached at AP1), verifies
with the collection's own modules that the MN is bound at MAG1 and reaches the
CN, then shows a second run changes nothing and --check runs cleanly, and that
syslog an MN forges from an AP's address is dropped, and that the MAG<->LMA
signaling on the core link is ESP only (the inventory's default; issue 12).
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from pmipv6_test_helpers import playbook, recap

pytestmark = pytest.mark.podman

# inventories/emulated under the test suite's own names (pmipv6t-*), so that a
# lab left up by scripts/lab.sh (pmipv6-*) is neither in the way nor touched.
INVENTORY = "tests/inventories/emulated"


@pytest.fixture(scope="module")
def lab(podman_ok):
    try:
        yield
    finally:
        rc, out, _seconds = playbook("playbooks/teardown.yml", "-i", INVENTORY, timeout=600)
        assert rc == 0, out[-3000:]


def test_site_converges_and_verifies(lab):
    rc, out, seconds = playbook("site.yml", "-i", INVENTORY)
    assert rc == 0, out[-5000:]
    hosts = recap(out)
    assert all(h["failed"] == 0 and h["unreachable"] == 0 for h in hosts.values()), hosts
    assert "Each attached MN is bound at its AP's MAG" in out
    assert "ok: [lma] => (item=mn1 at ap1)" in out
    assert "ok: [mag1] => (item=mn1)" in out
    assert "TASK [Ping the CN" in out and "ok: [mn1]" in out.split("TASK [Ping the CN", 1)[1]
    print(f"first converge: {seconds:.0f} s")


def test_second_run_changes_nothing(lab):
    rc, out, _seconds = playbook("site.yml", "-i", INVENTORY)
    assert rc == 0, out[-5000:]
    changed = {host: r["changed"] for host, r in recap(out).items() if r["changed"]}
    assert changed == {}, changed


def test_check_mode_runs_cleanly(lab):
    rc, out, _seconds = playbook("site.yml", "-i", INVENTORY, "--check")
    assert rc == 0, out[-5000:]
    changed = {host: r["changed"] for host, r in recap(out).items() if r["changed"]}
    assert changed == {}, changed


# --------------------------------------------------------------------------- forged syslog
# Issue 12: an MN cannot forge the layer-2 triggers. MN1 (at AP1, MAG1's access
# link) sends Cisco syslog lines with AP1's source address to MAG1's syslog
# address; MAG1's nftables rules take syslog only from AP1's management link
# (mgmt0, AP1's MAC), so the lines are dropped and counted before the agent
# sees them. The same line from AP1 itself is the control: it does register.

MAG = "pmipv6t-mag1"
VICTIM_ID = "victim@lab.pmipv6.example"  # in the test inventory's policy, never attached
ASSOC_VICTIM = (
    "<190>1: *Dec  7 05:00:00.000: %DOT11-6-ASSOC: Interface Dot11Radio0,"
    " Station VICTIM 0200.0000.6666 Associated KEY_MGMT[NONE]"
)
DISASSOC_MN1 = (
    "<190>2: *Dec  7 05:00:01.000: %DOT11-6-DISASSOC: Interface Dot11Radio0,"
    " Deauthenticating Station 0200.0000.0101 Reason: Sending station has left the BSS"
)
# Sends argv[3:] as UDP datagrams from argv[1] (bound with IPV6_FREEBIND, so it
# may be an address the sender does not have) to argv[2] port 514.
SEND = """
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, 78, 1)  # IPV6_FREEBIND
s.bind((sys.argv[1], 0))
for line in sys.argv[3:]:
    s.sendto(line.encode(), (sys.argv[2], 514))
"""


def podman_exec(container: str, *argv: str) -> str:
    result = subprocess.run(
        ["podman", "exec", container, *argv], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (argv, result.stdout, result.stderr)
    return result.stdout


def pmipctl(container: str, role: str, *argv: str):
    out = podman_exec(
        container, "/opt/pmip6d/venv/bin/pmipctl", "-s", f"/run/pmip6d/{role}.sock", "--json", *argv
    )
    return json.loads(out)


def dropped_by_nft() -> int:
    doc = json.loads(
        podman_exec(
            MAG,
            "nft",
            "-j",
            "list",
            "counter",
            "inet",
            "pmipv6_triggers",
            "syslog_dropped_not_from_ap",
        )
    )
    (counter,) = [item["counter"] for item in doc["nftables"] if "counter" in item]
    return counter["packets"]


def syslog_counters() -> dict[str, int]:
    """MAG1's cisco-syslog trigger counters (events, untrusted_source, ...)."""
    counters = pmipctl(MAG, "mag", "counters")
    return {
        key.rsplit(".", 1)[1]: value
        for key, value in counters.items()
        if key.startswith("trigger.cisco-syslog")
    }


def victim_bindings() -> list:
    return pmipctl("pmipv6t-lma", "lma", "bindings", "--mn", VICTIM_ID)


def wait_until(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.5)


def test_forged_syslog_from_the_mn_is_dropped(lab):
    mn1 = pmipctl(MAG, "mag", "bindings", "--mac", "02:00:00:00:01:01")
    assert mn1, "MN1 should be bound at MAG1 after site.yml"
    dropped, counters = dropped_by_nft(), syslog_counters()
    assert victim_bindings() == []

    # From MN1, with AP1's address as source, to MAG1's syslog address (through
    # MN1's default router, MAG1 itself): ASSOC for the victim, DISASSOC for MN1.
    podman_exec(
        "pmipv6t-mn1", "python3", "-c", SEND, "fd00:a1::2", "fd00:a1::1", ASSOC_VICTIM, DISASSOC_MN1
    )
    wait_until(lambda: dropped_by_nft() == dropped + 2, "nft counts the two forged lines")
    # The agent never saw them: not as events, not even as untrusted sources.
    assert syslog_counters() == counters
    assert victim_bindings() == []
    # MN1 is still attached and registered: same prefix, not detached meanwhile.
    (now,) = pmipctl(MAG, "mag", "bindings", "--mac", "02:00:00:00:01:01")
    assert (
        (now["state"], now["hnps"]) == (mn1[0]["state"], mn1[0]["hnps"]) == ("active", now["hnps"])
    )
    assert now["attached_for"] > mn1[0]["attached_for"]

    # Control: the same ASSOC line from AP1 (its management link) is believed.
    podman_exec("pmipv6t-ap1", "python3", "-c", SEND, "fd00:a1::2", "fd00:a1::1", ASSOC_VICTIM)
    wait_until(lambda: victim_bindings() != [], "the AP's own line registers the victim")
    assert syslog_counters()["events"] == counters["events"] + 1
    assert dropped_by_nft() == dropped + 2


# The test lab's containers and addresses (tests/inventories/emulated).
LMA = "pmipv6t-lma"
MAG1 = "pmipv6t-mag1"
LMA_ADDRESS = "2001:db8:ffff::1"
MAG1_ADDRESS = "2001:db8:ffff::11"
MN1_MAC = "02:00:00:00:01:01"
PMIPCTL = "/opt/pmip6d/venv/bin/pmipctl"


def pmipctl_text(container: str, *args: str) -> str:
    return subprocess.run(
        ["podman", "exec", container, PMIPCTL, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


def test_signaling_on_the_core_link_is_esp_only(lab):
    # RFC 5213 section 4: ESP protects every Mobility Header between a MAG and its
    # LMA. Capture the LMA's core link while MAG1 deregisters and registers mn1 again
    # (detach and attach through pmipctl: PBU/PBA both ways): the pair's packets are
    # ESP, and no Mobility Header crosses the link in clear.
    capture = subprocess.Popen(
        ["podman", "exec", LMA, "timeout", "20", "tcpdump", "-i", "core0", "-n", "-l", "-v",
         "ip6 proto 50 or ip6 proto 135"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    lines = []
    try:
        for line in capture.stdout:  # tcpdump says when it listens
            lines.append(line)
            if "listening on" in line:
                break
        pmipctl_text(MAG1, "detach", MN1_MAC)
        pmipctl_text(MAG1, "attach", MN1_MAC)
        for _attempt in range(30):  # registered again (the LMA accepted the protected PBU)
            rows = json.loads(pmipctl_text(MAG1, "--json", "bindings"))
            if any(row.get("state") == "active" for row in rows):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"mn1 not registered again at mag1: {rows}")
    finally:
        out, _stderr = capture.communicate(timeout=60)
    lines.append(out)
    text = "".join(lines)
    esp = [line for line in text.splitlines() if "ESP(spi=" in line]
    upstream = [line for line in esp if f"{MAG1_ADDRESS} > {LMA_ADDRESS}:" in line]
    downstream = [line for line in esp if f"{LMA_ADDRESS} > {MAG1_ADDRESS}:" in line]
    assert len(upstream) >= 2 and len(downstream) >= 2, text  # deregistration, registration
    assert "mobility:" not in text and "Mobility (135)" not in text, text


def test_a_new_key_epoch_rekeys_and_the_mn_registers_again(lab):
    # Rekeying is a run of site.yml with a new epoch: new SAs in every agent's
    # configuration (both ends derive them), the agents restarted, the binding verified.
    rc, out, _seconds = playbook("site.yml", "-i", INVENTORY, "-e", "pmipv6_signaling_key_epoch=2")
    assert rc == 0, out[-5000:]
    for role, task, hosts in (
        ("lma", "Write the LMA configuration", ["lma"]),
        ("mag", "Write the MAG configuration", ["mag1", "mag2"]),
    ):
        result = out.split(f"TASK [netlmm.pmipv6.{role} : {task}", 1)[1].split("TASK [", 1)[0]
        assert all(f"changed: [{host}]" in result for host in hosts), result
    assert "ok: [lma] => (item=mn1 at ap1)" in out
    assert "ok: [mag1] => (item=mn1)" in out
    status = json.loads(pmipctl_text(LMA, "--json", "status"))
    assert status["signaling_security"]["mode"] == "esp", status


SCRAPE = (
    "import urllib.request as u; "
    "print(u.urlopen('http://[::1]:9461/metrics', timeout=5).read().decode())"
)


def test_the_roles_turn_on_each_agent_s_metrics_endpoint(lab):
    # inventories/emulated sets lma_metrics_address / mag_metrics_address to ::1.
    for container, role in ((LMA, "lma"), (MAG, "mag"), ("pmipv6t-mag2", "mag")):
        text = podman_exec(container, "python3", "-c", SCRAPE)
        info = [line for line in text.splitlines() if line.startswith("pmip6d_info{")]
        assert len(info) == 1 and f'role="{role}"' in info[0], text[:2000]
        assert "pmip6d_handover_phase_seconds_bucket{" in text
    lma_text = podman_exec(LMA, "python3", "-c", SCRAPE)
    bindings = [line for line in lma_text.splitlines() if line.startswith("pmip6d_bindings ")]
    assert bindings and float(bindings[0].split()[1]) >= 1, lma_text[:2000]
