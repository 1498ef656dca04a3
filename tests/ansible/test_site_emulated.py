"""site.yml on the emulated lab (rootful podman containers on this machine).

Converges from nothing (testbed, agents, APs, the MN attached at AP1), verifies
with the collection's own modules that the MN is bound at MAG1 and reaches the
CN, then shows a second run changes nothing and --check runs cleanly.
"""

from __future__ import annotations

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
