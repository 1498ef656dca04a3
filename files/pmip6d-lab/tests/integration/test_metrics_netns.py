"""The agents' Prometheus endpoints, scraped over HTTP in their namespaces around a handover.

Real agents (the nsdomain test bed), each with ``metrics: {address: ::1}`` in its own
network namespace; the MN roams AP1 → AP2 through the emulated APs' syslog. The
scrapes before and after must show the handover: MAG2's PBU and phase histogram, the
LMA's handoff counter and its own phase histogram, both MAGs' tunnel peers.
"""

from __future__ import annotations

import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pmip6d_lab.netlab import wait_for
from pmip6d_lab.nsdomain import LMA, MAGS, build_domain

pytestmark = pytest.mark.netns

METRICS = {"metrics": {"address": "::1", "port": 9461}}
SCRAPE = (
    "import urllib.request; "
    "print(urllib.request.urlopen('http://[::1]:9461/metrics', timeout=5).read().decode())"
)


def scrape(dom, host: str) -> dict[tuple[str, tuple], float]:
    text = dom.lab.ns(host).run(sys.executable, "-c", SCRAPE).stdout
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total_count(samples: dict) -> float:
    return samples[("pmip6d_handover_phase_seconds_count", (("phase", "total"),))]


def test_a_handover_moves_the_counters_and_histograms_of_both_agents(tmp_path, netns_ok):
    dom = build_domain(
        tmp_path, prefix=f"mx{id(tmp_path) % 1000}-", mobile_nodes=1, lma_extra=METRICS,
        mag_extra=METRICS,
    )  # fmt: skip
    try:
        dom.associate("mn1", "ap1")
        wait_for(lambda: dom.binding("mn1"), what="mn1 registered at the LMA")
        dom.wait_address("mn1")
        lma_before, mag2_before = scrape(dom, "lma"), scrape(dom, "mag2")
        assert lma_before[("pmip6d_bindings", ())] == 1
        assert lma_before[("pmip6d_info", (("address", LMA), ("name", "lma"),
                                           ("role", "lma")))] == 1  # fmt: skip
        assert mag2_before[("pmip6d_bindings", ())] == 0

        dom.roam("mn1", "ap2")
        wait_for(
            lambda: (dom.binding("mn1") or {}).get("proxy_coa") == MAGS["mag2"],
            what="the LMA points mn1 at MAG2",
        )
        dom.wait_address("mn1")
        mag2 = wait_for(
            lambda: (s := scrape(dom, "mag2")) and total_count(s) > total_count(mag2_before) and s,
            what="MAG2's histogram counts the handover",
        )
        lma = scrape(dom, "lma")
    finally:
        dom.close()

    sent = ("pmip6d_pbu_total", (("direction", "sent"),))
    assert mag2[sent] > mag2_before[sent]
    assert mag2[("pmip6d_bindings", ())] == 1
    assert mag2[("pmip6d_tunnel_peers", ())] == 1
    assert total_count(mag2) == total_count(mag2_before) + 1
    for phase in ("l2_to_pbu", "pbu_to_pba", "pba_to_ra"):
        assert mag2[("pmip6d_handover_phase_seconds_count", (("phase", phase),))] >= 1
    assert lma[("pmip6d_handoffs_total", ())] == lma_before[("pmip6d_handoffs_total", ())] + 1
    assert total_count(lma) == total_count(lma_before) + 1
    received = ("pmip6d_pbu_total", (("direction", "received"),))
    assert lma[received] >= lma_before[received] + 1
    assert lma[("pmip6d_events_total", (("event", "metrics.scrapes"),))] >= 2
