"""The real agents with ESP on the signaling, the kernel's (xfrm) against the agent's own.

Runs in the stock-kernel stage of scripts/test.sh only (Debian's kernel under QEMU,
which has esp6 and rfc4106; the lab machines' kernel has not, so the host run
leaves this directory out). The LMA uses the kernel's ESP, MAG1 the agent's own
(raw ESP socket), MAG2 the kernel's: a registration at MAG1 is kernel<->agent on
the wire, the handover to MAG2 kernel<->kernel, with the same generated SAs.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from pmip6d_lab import sigdomain
from pmip6d_lab.netlab import wait_for

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def domain(tmp_path_factory):
    assert os.geteuid() == 0, "these tests create network namespaces: run them as root"
    work = tmp_path_factory.mktemp("espk")
    esp = {"lma": "kernel", "mag1": "agent", "mag2": "kernel"}
    dom = sigdomain.build(work, prefix="espk-", mobile_nodes=1, esp=esp, log_level="info")
    try:
        yield dom
    finally:
        dom.close()


def xfrm_count(dom, host: str, what: str) -> str:
    ns = dom.lab.ns(host).name
    out = subprocess.run(
        ["ip", "-n", ns, "xfrm", what, "count"], capture_output=True, text=True, check=True
    )
    return " ".join(out.stdout.split())


def bound_at(dom, mag: str) -> dict:
    def check():
        rows = dom.call("lma", "bindings", mn_id=sigdomain.mn_id(1))
        ok = rows and rows[0]["state"] == "active" and rows[0]["proxy_coa"] == dom.mags[mag]
        return rows[0] if ok else None

    return wait_for(check, timeout=20, what=f"MN 1 bound at {mag}")


def test_kernel_esp_at_the_lma_registers_with_the_agents_and_the_kernels_esp(domain):
    dom = domain
    security = {name: dom.status(name)["signaling_security"] for name in ("lma", "mag1", "mag2")}
    assert {n: s["implementation"] for n, s in security.items()} == {
        "lma": "kernel",
        "mag1": "agent",
        "mag2": "kernel",
    }
    # What the kernel side installed: an SA each way and a policy each way per peer.
    assert xfrm_count(dom, "lma", "state") == "SAD count 4"
    assert xfrm_count(dom, "lma", "policy") == "SPD IN 2 OUT 2 FWD 0"
    assert xfrm_count(dom, "mag2", "state") == "SAD count 2"
    assert xfrm_count(dom, "mag1", "state") == "SAD count 0"  # the agent's own ESP

    dom.attach("mag1", 1)  # agent (MAG1) <-> kernel (LMA)
    first = bound_at(dom, "mag1")
    dom.roam(1, "mag1", "mag2")  # kernel (MAG2) <-> kernel (LMA)
    second = bound_at(dom, "mag2")
    assert second["hnps"] == first["hnps"]
    assert dom.wrong_places({1: "mag2"}) == []

    mag1 = dom.status("mag1")["signaling_security"]
    assert mag1["esp_sent"] >= 1 and mag1["esp_received"] >= 1  # PBU out, PBA in, as ESP
    for name in ("esp_auth_failed", "esp_replayed", "esp_unknown_spi", "esp_malformed"):
        assert mag1[name] == 0, name
    lma = dom.status("lma")["signaling_security"]
    assert lma["esp_auth_failed"] == lma["esp_replayed"] == lma["esp_unknown_spi"] == 0, lma


def test_the_kernel_side_removes_its_sas_and_policies_at_stop(domain):
    dom = domain
    dom.agents["lma"].stop()
    assert xfrm_count(dom, "lma", "state") == "SAD count 0"
    assert xfrm_count(dom, "lma", "policy") == "SPD IN 0 OUT 0 FWD 0"
