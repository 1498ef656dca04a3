"""RFC 5846 binding revocation between real agents in namespaces.

MN ── AP1 ── MAG1 ══╗
                     LMA          (the nsdomain test bed: real raw MH sockets,
MN ── AP2 ── MAG2 ══╝             kernel routes and rules, unicast RAs)

A handover that MAG1 hears nothing about at layer 2 (MAG2 is told of the MN
through its control socket, so no ROAMED line reaches MAG1) must still clear
MAG1: the LMA's Binding Revocation Indication makes it drop the MN's routes,
rule and RAs, and it answers only once they are gone, so by the time the LMA
counts the acknowledgement MAG1 serves nothing. ``pmipctl revoke`` and the
collection's ``pmip_binding`` module (``state: absent``, run by ``ansible``)
remove an MN's binding at the LMA and at its MAG.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pmip6d_lab.netlab import wait_for
from pmip6d_lab.nsdomain import MAGS, build_domain

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def domain(tmp_path_factory, netns_ok, backend):
    work = tmp_path_factory.mktemp(f"revoke-{backend}")
    dom = build_domain(work, prefix=f"rv{id(work) % 1000}-", mobile_nodes=2, backend=backend)
    try:
        yield dom
    finally:
        dom.close()


def kernel_state(dom, mag: str, hnp: str) -> tuple[str, str]:
    """The MAG's route for ``hnp`` and its rules that name it, as ``ip`` prints them."""
    ns = dom.lab.ns(mag)
    routes = ns.run("ip", "-6", "route", "show", hnp).stdout.strip()
    rules = [line for line in ns.run("ip", "-6", "rule", "show").stdout.splitlines() if hnp in line]
    return routes, "\n".join(rules)


def ras_served(dom, mag: str) -> int:
    return dom.agents[mag].call("status")["access"]["acc0"]["served"]


def served_at_mag1(dom, mn: str) -> tuple[str, str]:
    dom.associate(mn, "ap1")
    row = wait_for(lambda: dom.binding(mn), what=f"{mn} registered at the LMA")
    assert row["proxy_coa"] == MAGS["mag1"]
    dom.wait_address(mn)  # RAs reached the MN: MAG1 serves it for real
    hnp = row["hnps"][0]
    routes, rules = kernel_state(dom, "mag1", hnp)
    assert "acc0" in routes and rules, (routes, rules)
    return row["mn_id"], hnp


def test_handover_revokes_the_previous_mags_routes_and_ras(domain):
    dom = domain
    mn = dom.mns["mn1"]
    _mn_id, hnp = served_at_mag1(dom, "mn1")
    assert ras_served(dom, "mag1") == 1
    acknowledged = dom.agents["lma"].counters().get("revocations_acknowledged", 0)

    # MAG2 learns of the MN, MAG1 is not told anything at layer 2.
    dom.agents["mag2"].call("attach", mac=mn.mac, interface="acc0", handoff_indicator=3)
    wait_for(
        lambda: dom.agents["lma"].counters().get("revocations_acknowledged", 0) > acknowledged,
        what="the LMA receives MAG1's BRA",
    )
    # MAG1 answered only after its routes were gone: no waiting here.
    assert dom.agents["mag1"].bindings(mac=mn.mac) == []
    assert kernel_state(dom, "mag1", hnp) == ("", "")
    assert ras_served(dom, "mag1") == 0
    counters = dom.agents["mag1"].counters()
    assert counters["revoked.INTER_MAG_HANDOVER_SAME_ACCESS_TYPE"] == 1
    assert counters["bra_sent.SUCCESS"] == 1
    # The binding and the MN's service moved to MAG2 meanwhile.
    row = dom.binding("mn1")
    assert row["proxy_coa"] == MAGS["mag2"] and row["hnps"] == [hnp]
    assert dom.agents["mag2"].bindings(mac=mn.mac)[0]["state"] == "active"
    routes, rules = kernel_state(dom, "mag2", hnp)
    assert "acc0" in routes and rules
    assert dom.agents["lma"].call("revocations") == []


def pmipctl(dom, *args: str) -> subprocess.CompletedProcess:
    code = "import sys; from pmip6d.cli import pmipctl_main; sys.exit(pmipctl_main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "-s", str(dom.agents["lma"].socket), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_pmipctl_revoke_removes_the_binding_at_both_ends(domain):
    dom = domain
    mn = dom.mns["mn2"]
    mn_id, hnp = served_at_mag1(dom, "mn2")
    lma_routes_before = dom.lab.ns("lma").run("ip", "-6", "route", "show", hnp).stdout
    assert lma_routes_before.strip()

    done = pmipctl(dom, "revoke", mn_id)
    assert done.returncode == 0, done.stderr
    assert mn_id in done.stdout and MAGS["mag1"] in done.stdout
    # The LMA removed binding and route before it answered.
    assert dom.binding("mn2") is None
    assert dom.lab.ns("lma").run("ip", "-6", "route", "show", hnp).stdout.strip() == ""
    # MAG1 lets go once the BRI arrives, and acknowledges.
    wait_for(lambda: dom.agents["mag1"].bindings(mac=mn.mac) == [], what="MAG1 drops mn2")
    assert kernel_state(dom, "mag1", hnp) == ("", "")
    wait_for(
        lambda: (
            dom.agents["lma"].counters().get("bri_sent.ADMINISTRATIVE_REASON", 0) == 1
            and dom.agents["lma"].call("revocations") == []
        ),
        what="the LMA receives the BRA",
    )
    assert dom.agents["mag1"].counters()["revoked.ADMINISTRATIVE_REASON"] == 1
    # Revoking again changes nothing and says so.
    again = pmipctl(dom, "revoke", mn_id)
    assert again.returncode == 0 and "nothing revoked" in again.stdout


REPO = Path(__file__).resolve().parents[4]
"""The checkout, which is the collection (ansible.cfg finds it through .ansible)."""
HOST_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def pmip_binding(dom, mn_id: str, *, check: bool = False) -> dict:
    """Run the collection's module for real (ansible ad-hoc, local) against the LMA."""
    args = {"socket": str(dom.agents["lma"].socket), "mn_id": mn_id, "state": "absent"}
    command = [
        str(Path(sys.executable).with_name("ansible")),
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-m",
        "netlmm.pmipv6.pmip_binding",
        "-a",
        json.dumps(args),
        # The host's own Python, as on a real LMA (the module needs nothing else).
        "-e",
        f"ansible_python_interpreter={HOST_PYTHON}",
    ]
    if check:
        command += ["--check", "--diff"]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [play] = json.loads(done.stdout)["plays"]
    return play["tasks"][0]["hosts"]["localhost"]


def test_the_module_revokes_through_the_lma(domain):
    dom = domain
    mn = dom.mns["mn1"]
    row = dom.binding("mn1")  # handed over to MAG2 by the first test
    assert row and row["proxy_coa"] == MAGS["mag2"]
    hnp = row["hnps"][0]

    predicted = pmip_binding(dom, row["mn_id"], check=True)
    assert predicted["changed"] is True and predicted["revoked"][0]["mn_id"] == row["mn_id"]
    assert dom.binding("mn1") is not None  # check mode changed nothing

    done = pmip_binding(dom, row["mn_id"])
    assert done["changed"] is True and [r["proxy_coa"] for r in done["revoked"]] == [MAGS["mag2"]]
    assert dom.binding("mn1") is None
    wait_for(lambda: dom.agents["mag2"].bindings(mac=mn.mac) == [], what="MAG2 drops mn1")
    assert kernel_state(dom, "mag2", hnp) == ("", "")

    again = pmip_binding(dom, row["mn_id"])
    assert again["changed"] is False and again["revoked"] == []
