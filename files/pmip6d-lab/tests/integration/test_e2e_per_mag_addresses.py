"""The paper's scenario 1: MAGs keep their own link-local addresses and MACs.

The same handover as test_e2e_handover, but now the MN sees a different
default router after it: the reason the paper saw TCP stall for > 100 s.
"""

from __future__ import annotations

import json

import pytest

from pmip6d_lab.netlab import wait_for
from pmip6d_lab.nsdomain import MAGS, build_domain

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def domain(tmp_path_factory, netns_ok):
    work = tmp_path_factory.mktemp("scenario1")
    dom = build_domain(work, prefix=f"s1{id(work) % 1000}-", mobile_nodes=1, shared_addresses=False)
    try:
        yield dom
    finally:
        dom.close()


def own_link_local(dom, mag: str) -> tuple[str, str]:
    ns = dom.lab.ns(mag)
    info = json.loads(
        ns.run("ip", "-j", "-6", "addr", "show", "dev", "acc0", "scope", "link").stdout
    )
    link = json.loads(ns.run("ip", "-j", "link", "show", "dev", "acc0").stdout)
    address = next(a["local"] for a in info[0]["addr_info"] if a.get("local"))
    return address, link[0]["address"]


def test_default_router_changes_with_per_mag_addresses(domain):
    dom = domain
    mag1, mag2 = own_link_local(dom, "mag1"), own_link_local(dom, "mag2")
    assert mag1 != mag2 and mag1[0] != "fe80::1"
    dom.associate("mn1", "ap1")
    address = dom.wait_address("mn1")
    assert dom.mns["mn1"].default_routers() == [mag1]
    dom.roam("mn1", "ap2")
    wait_for(lambda: dom.binding("mn1")["proxy_coa"] == MAGS["mag2"], what="LMA points at MAG2")
    wait_for(lambda: mag2 in dom.mns["mn1"].default_routers(), what="MAG2 as a default router")
    assert address in dom.mns["mn1"].usable_addresses()
    routers = dom.mns["mn1"].default_routers()
    # A new router appeared; the old one lingers until its lifetime or NUD says otherwise.
    assert routers != [mag1] and mag2 in routers
