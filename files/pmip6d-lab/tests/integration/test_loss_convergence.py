"""30 % of the Mobility Header lost each way between the MAGs and the LMA; all still converge.

200 MNs attach at two real MAGs (100 each, through the control socket) while
nftables in the LMA's namespace drops 30 % of what the MAGs send and 30 % of
what the LMA answers. Every MN must end registered at the LMA at its MAG; then
every MN roams to the other MAG (attach there with handoff indicator 3, then
detach at the old one, as an AP's Reassociated and ROAMED lines would) and must
end at the new MAG with nothing left at the old one, in the LMA's binding cache
and in both MAGs' binding update lists.

Short retransmission timers (200 ms doubling up to 1.6 s) keep the test brief;
with them an RFC-minimum MAG gives up after four transmissions, which at this
loss is one MN in fifteen. The waits are bounded but generous: they say when
to stop waiting, not how fast it must be.
"""

from __future__ import annotations

import os

import pytest

from pmip6d_lab import sigdomain
from pmip6d_lab.loss import MobilityHeaderLoss
from pmip6d_lab.netlab import wait_for

pytestmark = pytest.mark.netns

MNS = 200
LOSS_PERCENT = 30
TIMERS = {
    "initial_bindack_timeout_first_reg_ms": 200,
    "initial_bindack_timeout_ms": 200,
    "max_bindack_timeout_ms": 1600,
}


@pytest.fixture(scope="module")
def domain(tmp_path_factory, netns_ok):
    work = tmp_path_factory.mktemp("loss")
    dom = sigdomain.build(
        work, prefix=f"lc{os.getpid() % 10000}-", mobile_nodes=MNS, mag_extra=TIMERS
    )
    try:
        yield dom
    finally:
        dom.close()


def converge(dom: sigdomain.SignalingDomain, home: dict[int, str], what: str) -> None:
    last: list[str] = []

    def done() -> bool:
        last[:] = dom.wrong_places(home)
        return not last

    try:
        wait_for(done, timeout=180, interval=0.5, what=what)
    except TimeoutError:
        pytest.fail(f"{what}: {len(last)} problems left, e.g. {last[:10]}")


def retries_at_max(dom: sigdomain.SignalingDomain) -> int:
    return sum(dom.counters(mag).get("retry_at_max.register", 0) for mag in dom.mags)


def test_registrations_and_handovers_converge_under_30_percent_loss_both_ways(domain):
    dom = domain
    home = {i: "mag1" if i <= MNS // 2 else "mag2" for i in range(1, MNS + 1)}
    loss = MobilityHeaderLoss(dom.lab.ns("lma").name, LOSS_PERCENT, LOSS_PERCENT)
    with loss:
        for i, mag in home.items():
            dom.attach(mag, i)
        converge(dom, home, f"{MNS} MNs registered at their MAGs")
        after_registration = loss.dropped()

        moved = {i: "mag2" if mag == "mag1" else "mag1" for i, mag in home.items()}
        for i in home:
            dom.roam(i, home[i], moved[i])
        converge(dom, moved, f"{MNS} MNs handed over to the other MAG")
        dropped = loss.dropped()

    # The loss was real, both ways, in both phases.
    assert after_registration["input"] > 0 and after_registration["output"] > 0
    assert dropped["input"] > after_registration["input"]
    assert dropped["output"] > after_registration["output"]
    # Some MNs outlasted the RFC back-off and were kept, not given up (at this loss
    # about 7 % of 400 exchanges, so never none in practice).
    assert retries_at_max(dom) > 0
    for mag in dom.mags:
        counters = dom.counters(mag)
        assert counters.get("gave_up.register", 0) == 0
        assert counters.get("pbu_retransmitted", 0) > 0
    # Every handover reached the LMA as a handoff, a revival or a new session at the
    # new MAG; none of it left a second binding (checked by wrong_places above).
    assert dom.status("lma")["bindings"] == MNS
