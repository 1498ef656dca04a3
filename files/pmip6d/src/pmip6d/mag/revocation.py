"""The MAG's side of RFC 5846 binding revocation (§9.2), sans-IO.

A Binding Revocation Indication from the LMA a mobile node is registered with
makes the MAG stop serving that MN at once: the same ``StopServing`` a detach
produces (routes, policy rule and unicast RAs go) and the binding update list
entry is forgotten, with no de-registration PBU (the LMA has already moved or
removed the binding). The shell removes the routes before any message leaves
(``effects.flush()`` first), so the Binding Revocation Acknowledgement that
answers tells the LMA the MN is no longer served here.

What is not answered: a BRI from an address that is no LMA of this MAG's policy
(counted and dropped: the MAG must not reflect traffic to strangers) and one
without the P flag (a Mobile IPv6 revocation, meant for a mobile node). What is
answered with a failure status: a global revocation (G flag: this MAG revokes
per MN only), a BRI without an MN-Identifier, an MN this MAG has no entry for,
or has registered with another LMA (BINDING_DOES_NOT_EXIST), and an MN whose
registration here is still in flight after a new attach (the BRI is about its
older binding; REVOCATION_FAILED_MN_IS_ATTACHED, RFC 5846 §9.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..actions import Action, Notice, Send, StopServing
from ..wire.constants import BR_FLAG_G, BR_FLAG_P, RevocationStatus, RevocationTrigger
from ..wire.messages import BindingRevocationAck, BindingRevocationIndication

if TYPE_CHECKING:
    from .machine import BulEntry, MobileAccessGateway


def _trigger_name(trigger: int) -> str:
    try:
        return RevocationTrigger(trigger).name
    except ValueError:
        return f"TRIGGER_{trigger}"


def known_lmas(mag: MobileAccessGateway) -> frozenset[str]:
    """Every LMA this MAG may register an MN with, according to its policy."""
    lmas = {p.lma for p in mag.policy.by_mac.values()}
    if mag.policy.default_lma is not None:
        lmas.add(mag.policy.default_lma)
    return frozenset(lmas)


def handle_bri(
    mag: MobileAccessGateway, src: str, bri: BindingRevocationIndication
) -> list[Action]:
    counters = mag.counters
    counters["bri_received"] += 1
    if not bri.proxy:
        counters["bri_not_proxy"] += 1
        return []
    if src not in mag.known_lmas:
        counters["bri_from_unknown_peer"] += 1
        return [Notice("debug", f"dropped a BRI from {src}, which is no LMA of this MAG")]
    if bri.flags & BR_FLAG_G:
        return _answer(mag, src, bri, RevocationStatus.GLOBAL_REVOCATION_NOT_AUTHORIZED)
    if bri.mn_id is None:
        return _answer(mag, src, bri, RevocationStatus.REVOKED_MOBILE_NODES_IDENTITY_REQUIRED)
    entry = mag._by_mn_id.get(bri.mn_id)
    if entry is None or entry.lma != src:
        return _answer(mag, src, bri, RevocationStatus.BINDING_DOES_NOT_EXIST)
    return _revoke(mag, entry, src, bri)


def _revoke(
    mag: MobileAccessGateway, entry: BulEntry, src: str, bri: BindingRevocationIndication
) -> list[Action]:
    from .machine import BulState, Phase

    if entry.phase is Phase.REGISTERING:
        # The MN attached here again after the move the LMA is revoking for; the
        # PBU in flight is newer than the binding the BRI is about.
        return _answer(mag, src, bri, RevocationStatus.REVOCATION_FAILED_MN_IS_ATTACHED)
    why = f"revoked by LMA {src}: {_trigger_name(bri.trigger)}"
    actions: list[Action] = []
    if entry.state is BulState.ACTIVE:
        actions.append(StopServing(entry.snapshot(mag._link_local), why))
    mag._forget(entry)
    mag.counters["revoked"] += 1
    mag.counters[f"revoked.{_trigger_name(bri.trigger)}"] += 1
    actions.append(Notice("info", f"{entry.mn_id.decode(errors='replace')} {why}"))
    actions += _answer(mag, src, bri, RevocationStatus.SUCCESS)
    return actions


def _answer(
    mag: MobileAccessGateway, src: str, bri: BindingRevocationIndication, status: RevocationStatus
) -> list[Action]:
    mag.counters[f"bra_sent.{status.name}"] += 1
    bra = BindingRevocationAck(
        status=status,
        sequence=bri.sequence,
        flags=BR_FLAG_P,
        mn_id=bri.mn_id,
        mn_id_subtype=bri.mn_id_subtype,
        mn_link_layer_id=bri.mn_link_layer_id,
    )
    return [Send(src, bra)]
