"""Three ways to build an RFC 5213 tunnel, one interface.

All backends end in the same place: for every tunnel peer (a MAG at the LMA,
an LMA at a MAG) a **nexthop object** with id ``nh_id_base + slot``. Routes
point at it with ``nhid``, so the data planes above never know which backend
they run on, and a handover is always one atomic ``route replace … nhid``.

``ip6tnl`` (standard kernels, ``CONFIG_IPV6_TUNNEL``): one ip6tnl device per
peer, mode ip6ip6, ``encaplimit none`` and the nexthop is ``dev <tunnel>``.
The device also decapsulates: the kernel hands it protocol-41 packets whose
outer addresses match its local/remote pair.

``seg6`` (``CONFIG_IPV6_SEG6_LWTUNNEL``): the nexthop carries ``encap seg6 mode
encap.red segs <peer>``; with one segment the kernel writes no routing header,
so the packet is plain IPv6-in-IPv6 — the same bytes. For decapsulation,
protocol-41 packets from a peer to the local address are steered by a rule
per peer to a table holding ``<local>/128 encap seg6local action End.DT6``
(the rules need the ``local`` rule out of priority 0 first). The namespace's
seg6 tunnel source is set to the local address, so the outer source is
exactly the LMAA / Proxy-CoA whatever source address selection would prefer.

``ebpf`` (``CONFIG_LWTUNNEL_BPF``, clsact, cls_bpf; kernels with neither of the
above): an lwt_xmit program on each peer's nexthop writes the outer header, a
clsact ingress program on the core interface strips it (:mod:`.ebpf_backend`).

``auto`` takes the first of ip6tnl, seg6, ebpf that the kernel accepts
(:mod:`.probe`). All three decapsulate only what comes from a known peer.

On the wire all give outer next header 41 and no extension header, outer
traffic class and flow label copied from the inner header (tshark checks in
the namespace tests). The hop limit differs: seg6 copies the inner hop limit
into the outer header; ip6tnl and ebpf write their own (64, RFC 2473 §6.3).
"""

from __future__ import annotations

import errno
import logging
from abc import ABC, abstractmethod
from typing import ClassVar

from ..wire.prefix import canonical_address
from . import rtnl, seg6genl
from .channel import Channel
from .kernel import DataplaneError, Kernel, host_prefix
from .peers import Peer
from .rtnl import NetlinkError

log = logging.getLogger("pmip6d.dataplane")

BACKENDS = ("auto", "ip6tnl", "seg6", "ebpf")
"""``auto`` tries the others in this order (see :mod:`.probe`)."""

# A discard-only address (RFC 6666) for the throwaway probe tunnel: it can
# never collide with a real tunnel or the any/any fallback device ip6tnl0.
_PROBE_REMOTE = "100::1"


class TunnelBackend(ABC):
    name: ClassVar[str]

    @abstractmethod
    def prepare(self, kernel: Kernel, local: str, core_index: int) -> None:
        """Install what decapsulation needs for packets sent to ``local``."""

    @abstractmethod
    def add_peer(self, kernel: Kernel, peer: Peer, local: str, core_index: int) -> int:
        """Create the nexthop (and device) for ``peer``; return the nexthop id.

        Raises NetlinkError; EEXIST means the id or name is someone else's and
        the caller moves the peer to another slot.
        """

    @abstractmethod
    def remove_peer(self, kernel: Kernel, peer: Peer) -> None:
        """Remove the peer's nexthop (the kernel drops routes using it) and device."""

    def release(self, kernel: Kernel, local: str) -> None:  # noqa: B027 - optional hook
        """Undo namespace-wide settings of :meth:`prepare` (routes/rules go via ownership)."""

    def counters(self) -> dict[str, int]:
        """Packet counters the backend keeps itself (the ebpf programs do; the kernel's
        tunnel devices have their own statistics)."""
        return {}

    def peer_stats(self) -> dict[str, int]:
        """Packets decapsulated per peer address, where the backend counts them."""
        return {}


class Seg6Backend(TunnelBackend):
    name = "seg6"

    def __init__(self, set_tunnel_source: bool = True) -> None:
        self.set_tunnel_source = set_tunnel_source
        self._local = ""

    def prepare(self, kernel: Kernel, local: str, core_index: int) -> None:
        self._local = local
        if self.set_tunnel_source:
            self._tunsrc(kernel, local)
        kernel.move_local_rule()
        kernel.replace_route(
            host_prefix(local),
            kernel.own.decap_table,
            oif=core_index,
            encap=rtnl.seg6local_end_dt6(kernel.own.route_table),
        )

    def add_peer(self, kernel: Kernel, peer: Peer, local: str, core_index: int) -> int:
        nh_id = kernel.own.nh_id(peer.slot)
        # The nexthop's device only matters for source selection (when no tunnel
        # source is set): after encapsulation the kernel routes the outer packet anew.
        kernel.add_nexthop(nh_id, oif=core_index, encap=rtnl.seg6_encap([peer.address]))
        # Decapsulate what this peer sends, and only that: a rule per peer, so a
        # protocol-41 packet from anyone else falls through to the local table
        # and is dropped there (no open relay). Only protocol 41 goes to End.DT6:
        # Mobility Header packets (135) from the peer still reach the agent.
        kernel.add_rule(**self._decap_rule(kernel, peer))
        peer.handle = nh_id
        return nh_id

    def remove_peer(self, kernel: Kernel, peer: Peer) -> None:
        kernel.del_rule(**self._decap_rule(kernel, peer))
        kernel.del_nexthop(kernel.own.nh_id(peer.slot))

    def _decap_rule(self, kernel: Kernel, peer: Peer) -> dict:
        return {
            "priority": kernel.own.decap_rule_priority,
            "table": kernel.own.decap_table,
            "src": host_prefix(peer.address),
            "dst": host_prefix(self._local),
            "ip_proto": rtnl.IPPROTO_IPV6,
        }

    def release(self, kernel: Kernel, local: str) -> None:
        if not self.set_tunnel_source:
            return
        try:
            with _genl_channel(kernel) as genl:
                family = _seg6_family(genl)
                if _current_tunsrc(genl, family) == canonical_address(local):
                    genl.request(seg6genl.set_tunsrc(family, "::"), "reset seg6 tunsrc")
        except (OSError, KeyError) as exc:
            log.warning("could not reset the seg6 tunnel source: %s", exc)

    def _tunsrc(self, kernel: Kernel, local: str) -> None:
        with _genl_channel(kernel) as genl:
            family = _seg6_family(genl)
            current = _current_tunsrc(genl, family)
            if current not in ("::", canonical_address(local)):
                log.warning(
                    "seg6 tunnel source was %s, setting it to %s for RFC 5213 tunnels",
                    current,
                    local,
                )
            genl.request(seg6genl.set_tunsrc(family, local), "set seg6 tunsrc")


NETLINK_GENERIC = 16  # not exported by Python's socket module


def _genl_channel(kernel: Kernel) -> Channel:
    return Channel(kernel.ch.netns, protocol=NETLINK_GENERIC, rcvbuf=1 << 20)


def _seg6_family(genl: Channel) -> int:
    for header, body in genl.query(seg6genl.family_request()):
        if header.kind == seg6genl.GENL_ID_CTRL:
            return seg6genl.parse_family_id(body)
    raise DataplaneError("the kernel has no SEG6 generic netlink family")


def _current_tunsrc(genl: Channel, family: int) -> str:
    for header, body in genl.query(seg6genl.get_tunsrc(family)):
        if header.kind == family:
            return seg6genl.parse_tunsrc(body)
    return "::"


class Ip6tnlBackend(TunnelBackend):
    name = "ip6tnl"

    def __init__(self, hop_limit: int = 64) -> None:
        self.hop_limit = hop_limit

    def prepare(self, kernel: Kernel, local: str, core_index: int) -> None:
        # Decapsulation is the tunnel devices' job; nothing namespace-wide to set.
        # Asked for explicitly on a kernel without ip6tnl: fail now, not per tunnel.
        if not ip6tnl_available(kernel):
            raise DataplaneError(
                "tunnel backend 'ip6tnl' requested, but this kernel has no ip6tnl "
                "(CONFIG_IPV6_TUNNEL); use 'seg6' or 'auto'"
            )

    def add_peer(self, kernel: Kernel, peer: Peer, local: str, core_index: int) -> int:
        own = kernel.own
        name = own.ifname(peer.slot)
        kernel.ch.request(
            rtnl.ip6tnl_link_message(
                name,
                link=core_index,
                local=local,
                remote=peer.address,
                hop_limit=self.hop_limit,
            ),
            f"create {name} to {peer.address}",
        )
        index = kernel.link_index(name)
        nh_id = own.nh_id(peer.slot)
        try:
            kernel.add_nexthop(nh_id, oif=index)
        except NetlinkError:
            kernel.ch.try_request(rtnl.link_del_message(index), f"delete {name}")
            raise
        peer.handle = (nh_id, index)
        return nh_id

    def remove_peer(self, kernel: Kernel, peer: Peer) -> None:
        own = kernel.own
        kernel.del_nexthop(own.nh_id(peer.slot))
        link = kernel.link(own.ifname(peer.slot))
        if link is not None and link.kind == "ip6tnl":
            kernel.ch.try_request(rtnl.link_del_message(link.index), f"delete {link.name}")


def ip6tnl_available(kernel: Kernel) -> bool:
    """Does this kernel (namespace) have ip6tnl? Decided by the kernel itself.

    The fallback device ``ip6tnl0`` exists in every namespace once the module is
    loaded (unless ``net.core.fb_tunnels_only_for_init_net`` hides it), so its
    presence is enough; otherwise a throwaway tunnel is created and deleted —
    which also loads the module on kernels that have it as a module.
    """
    if any(link.kind == "ip6tnl" or link.name == "ip6tnl0" for link in kernel.links()):
        return True
    name = f"{kernel.own.ifname_prefix}probe"[:15]
    try:
        kernel.ch.request(
            rtnl.ip6tnl_link_message(name, link=0, local="::", remote=_PROBE_REMOTE, up=False),
            "ip6tnl probe",
        )
    except NetlinkError as exc:
        if exc.errno == errno.EEXIST:
            # A leftover probe: the type exists. Fall through to delete it.
            pass
        elif exc.errno == errno.EOPNOTSUPP:  # "Unknown device type"
            return False
        else:
            log.warning("ip6tnl probe failed, assuming no ip6tnl: %s", exc)
            return False
    probe = kernel.link(name)
    if probe is not None:
        kernel.ch.try_request(rtnl.link_del_message(probe.index), "delete ip6tnl probe")
    return True


def make_backend(
    choice: str | TunnelBackend, kernel: Kernel | None = None, ifindex: int = 1
) -> TunnelBackend:
    """A backend by name, or ``"auto"``; ``kernel`` (probed on interface ``ifindex``) is needed
    for ``"auto"`` and makes an explicit choice fail at once, naming what the kernel lacks.
    """
    if isinstance(choice, TunnelBackend):
        return choice
    if choice not in BACKENDS:
        raise DataplaneError(
            f"unknown tunnel backend {choice!r}; choose one of {', '.join(BACKENDS)}"
        )
    if kernel is None:
        if choice == "auto":
            raise ValueError("backend 'auto' needs a kernel to probe")
    else:
        from . import probe

        if choice == "auto":
            picked = probe.choose(kernel, ifindex)
            refused = "".join(f"; {name} refused: {why}" for name, why in picked.refused.items())
            log.info("tunnel backend: %s (auto-detected%s)", picked.backend, refused)
            choice = picked.backend
        else:
            probe.require(kernel, ifindex, choice)
    if choice == "seg6":
        return Seg6Backend()
    if choice == "ip6tnl":
        return Ip6tnlBackend()
    from .ebpf_backend import EbpfBackend

    return EbpfBackend()
