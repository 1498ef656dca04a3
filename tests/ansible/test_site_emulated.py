"""site.yml on the emulated lab (rootful podman containers on this machine).

Converges from nothing (testbed, agents, APs, the MN attached at AP1), verifies
with the collection's own modules that the MN is bound at MAG1 and reaches the
CN, then shows a second run changes nothing and --check runs cleanly, and that
the MAG<->LMA signaling on the core link is ESP only (the inventory's default).
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


# The test lab's containers and addresses (tests/inventories/emulated).
LMA = "pmipv6t-lma"
MAG1 = "pmipv6t-mag1"
LMA_ADDRESS = "2001:db8:ffff::1"
MAG1_ADDRESS = "2001:db8:ffff::11"
MN1_MAC = "02:00:00:00:01:01"
PMIPCTL = "/opt/pmip6d/venv/bin/pmipctl"


def pmipctl(container: str, *args: str) -> str:
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
        pmipctl(MAG1, "detach", MN1_MAC)
        pmipctl(MAG1, "attach", MN1_MAC)
        for _ in range(30):  # registered again (the LMA accepted the protected PBU)
            rows = json.loads(pmipctl(MAG1, "--json", "bindings"))
            if any(row.get("state") == "active" for row in rows):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"mn1 not registered again at mag1: {rows}")
    finally:
        out, _ = capture.communicate(timeout=60)
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
    status = json.loads(pmipctl(LMA, "--json", "status"))
    assert status["signaling_security"]["mode"] == "esp", status
