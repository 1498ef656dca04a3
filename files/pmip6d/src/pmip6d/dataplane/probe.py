"""What this kernel offers the data plane, asked of the kernel itself.

Each kernel feature a tunnel backend needs is probed by doing the smallest
real thing with it — a throwaway route, qdisc, filter or program — and
undoing it at once. Kernel configs, module lists and version numbers are not
consulted: builds differ (the lab has seen one with seg6 and without ip6tnl,
another with neither), and modules load on first use. Everything a probe
creates carries the data plane's ownership marks, so even a probe cut short
is cleaned up by the next start.

:func:`choose` is ``backend: auto``: ip6tnl, then seg6, then ebpf, the first
one whose features are all there. :func:`report` is what ``pmip6d doctor``
and ``pmip6d lma|mag --check`` print.
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass, field

from ..errors import EXIT_KERNEL
from ..wire.prefix import Prefix
from . import ebpf_sys, rtnl
from .ebpf_programs import probe_program
from .kernel import DataplaneError, Kernel
from .rtnl import NetlinkError

log = logging.getLogger("pmip6d.dataplane")

# A discard-only prefix (RFC 6666): a probe route there can never carry traffic.
_PROBE_PREFIX = Prefix(rtnl.packed("100::"), 64)
_PROBE_PEER = "100::1"

FEATURES = {
    "nexthop": "nexthop objects (Linux 5.3+)",
    "ip6tnl": "ip6tnl tunnel devices (CONFIG_IPV6_TUNNEL)",
    "seg6": "seg6 lightweight tunnels (CONFIG_IPV6_SEG6_LWTUNNEL)",
    "bpf": "bpf(2) for network programs (CONFIG_BPF_SYSCALL; CAP_BPF + CAP_NET_ADMIN)",
    "lwt_bpf": "BPF lightweight tunnels (CONFIG_LWTUNNEL_BPF)",
    "clsact": "clsact qdisc (CONFIG_NET_SCH_INGRESS)",
    "cls_bpf": "BPF tc classifier (CONFIG_NET_CLS_BPF)",
}
"""Feature key → what it is and the kernel option that provides it."""

REQUIREMENTS = {
    "ip6tnl": ("nexthop", "ip6tnl"),
    "seg6": ("nexthop", "seg6"),
    "ebpf": ("nexthop", "bpf", "lwt_bpf", "clsact", "cls_bpf"),
}
"""Backend → the features it needs, in the order ``auto`` tries the backends."""

ORDER = tuple(REQUIREMENTS)


@dataclass(slots=True)
class Offer:
    backend: str
    missing: list[str] = field(default_factory=list)
    """Feature keys this kernel lacks (or that could not be probed)."""

    @property
    def ok(self) -> bool:
        return not self.missing

    def why_not(self, prober: Prober) -> str:
        return "; ".join(f"no {FEATURES[key]}: {prober.results[key]}" for key in self.missing)


class Prober:
    """Probes features on demand, each at most once; ``results[key]`` is None when present."""

    def __init__(self, kernel: Kernel, ifindex: int) -> None:
        self.k = kernel
        self.ifindex = ifindex
        self.results: dict[str, str | None] = {}

    def has(self, key: str) -> bool:
        if key not in self.results:
            try:
                self.results[key] = getattr(self, f"_probe_{key}")()
            except (NetlinkError, ebpf_sys.BpfError, DataplaneError) as exc:
                self.results[key] = f"probe failed: {exc}"
        return self.results[key] is None

    def offer(self, backend: str) -> Offer:
        offer = Offer(backend)
        for key in REQUIREMENTS[backend]:
            if not self.has(key):
                offer.missing.append(key)
                if key == "nexthop":  # everything else would fail for the same reason
                    break
        return offer

    # ------------------------------------------------------------------ probes

    def _probe_nexthop(self) -> str | None:
        nh_id = self.k.own.nh_id(self.k.own.max_peers - 1)  # the last slot: rarely in use
        try:
            self.k.add_nexthop(nh_id, blackhole=True)
        except NetlinkError as exc:
            if exc.errno != errno.EEXIST:
                return _reason(exc)
            return None  # the id is taken: nexthop objects exist
        self.k.del_nexthop(nh_id)
        return None

    def _probe_ip6tnl(self) -> str | None:
        from .backend import ip6tnl_available

        return None if ip6tnl_available(self.k) else "the kernel does not know the device type"

    def _probe_route_encap(self, encap: rtnl.Encap) -> str | None:
        table = self.k.own.decap_table
        try:
            self.k.replace_route(_PROBE_PREFIX, table, oif=self.ifindex, encap=encap)
        except NetlinkError as exc:
            if exc.errno == errno.ENETDOWN:
                return f"cannot tell: the probe interface (index {self.ifindex}) is down"
            return _reason(exc)
        self.k.del_route(_PROBE_PREFIX, table)
        return None

    def _probe_seg6(self) -> str | None:
        return self._probe_route_encap(rtnl.seg6_encap([_PROBE_PEER]))

    def _probe_bpf(self) -> str | None:
        try:
            fd = ebpf_sys.prog_load(
                ebpf_sys.PROG_TYPE_SCHED_CLS, probe_program().assemble(), "pmip6d_probe"
            )
        except ebpf_sys.BpfError as exc:
            return _bpf_reason(exc)
        ebpf_sys.close(fd)
        return None

    def _probe_lwt_bpf(self) -> str | None:
        if not self.has("bpf"):
            return "needs bpf(2)"
        try:
            fd = ebpf_sys.prog_load(
                ebpf_sys.PROG_TYPE_LWT_XMIT, probe_program().assemble(), "pmip6d_probe"
            )
        except ebpf_sys.BpfError as exc:
            if exc.errno == errno.EINVAL:
                return "the kernel does not know the lwt_xmit program type"
            return _bpf_reason(exc)
        try:
            return self._probe_route_encap(rtnl.bpf_xmit_encap(fd, "pmip6d-probe", 40))
        finally:
            ebpf_sys.close(fd)

    def _probe_clsact(self) -> str | None:
        try:
            created = self.k.add_clsact(self.ifindex)
        except NetlinkError as exc:
            return _reason(exc)
        if created:
            self.k.del_clsact(self.ifindex)
        return None

    def _probe_cls_bpf(self) -> str | None:
        if not self.has("bpf"):
            return "needs bpf(2)"
        if not self.has("clsact"):
            return "needs the clsact qdisc"
        fd = ebpf_sys.prog_load(
            ebpf_sys.PROG_TYPE_SCHED_CLS, probe_program().assemble(), "pmip6d_probe"
        )
        own = self.k.own
        created = False
        try:
            created = self.k.add_clsact(self.ifindex)
            # Our own name and priority: a probe cut short is removed as a leftover.
            self.k.add_bpf_filter(self.ifindex, fd, own.filter_name(created), own.filter_priority)
        except NetlinkError as exc:
            if exc.errno != errno.EEXIST:  # EEXIST: our running filter, so cls_bpf works
                return _reason(exc)
        else:
            self.k.del_filter(self.ifindex, own.filter_priority)
        finally:
            ebpf_sys.close(fd)
            if created:
                self.k.del_clsact(self.ifindex)
        return None


def _reason(exc: NetlinkError) -> str:
    """The kernel's words: errno text and its extended acknowledgement, without our context."""
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return f"{text} ({exc.text})" if exc.text else text


def _bpf_reason(exc: ebpf_sys.BpfError) -> str:
    if exc.errno == errno.ENOSYS:
        return "the kernel has no bpf(2) system call"
    if exc.errno == errno.EPERM:
        return "not permitted (needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)"
    return exc.strerror or str(exc)


@dataclass(slots=True)
class Choice:
    backend: str
    refused: dict[str, str]
    """Backends tried before ``backend`` and why each was refused."""


class UnsupportedKernel(DataplaneError):
    """No tunnel backend can run on this kernel; the message names what is missing."""

    exit_status = EXIT_KERNEL


def choose(kernel: Kernel, ifindex: int) -> Choice:
    """``backend: auto``: the first of ip6tnl, seg6, ebpf that this kernel supports."""
    prober = Prober(kernel, ifindex)
    refused: dict[str, str] = {}
    for backend in ORDER:
        offer = prober.offer(backend)
        if offer.ok:
            return Choice(backend, refused)
        refused[backend] = offer.why_not(prober)
    raise UnsupportedKernel(
        "no tunnel backend works on this kernel: "
        + "; ".join(f"{name}: {why}" for name, why in refused.items())
    )


def require(kernel: Kernel, ifindex: int, backend: str) -> None:
    """An explicitly configured backend: fail now, naming what the kernel lacks."""
    prober = Prober(kernel, ifindex)
    offer = prober.offer(backend)
    if not offer.ok:
        others = [b for b in ORDER if b != backend and prober.offer(b).ok]
        hint = f"; this kernel offers {', '.join(others)} ('auto' picks it)" if others else ""
        raise UnsupportedKernel(
            f"tunnel backend {backend!r} cannot run on this kernel: {offer.why_not(prober)}{hint}"
        )


@dataclass(slots=True)
class Report:
    features: dict[str, str | None]
    """Feature key → None if present, else why not."""
    offers: list[Offer]
    forwarding: bool | None

    @property
    def usable(self) -> list[str]:
        return [o.backend for o in self.offers if o.ok]

    def lines(self) -> list[str]:
        out = []
        fwd = {True: "on", False: "OFF (tunnelled traffic is dropped)", None: "unknown"}
        out.append(f"IPv6 forwarding: {fwd[self.forwarding]}")
        for key, text in FEATURES.items():
            why = self.features.get(key)
            out.append(f"  yes  {text}" if why is None else f"  no   {text} — {why}")
        for offer in self.offers:
            if offer.ok:
                out.append(f"backend {offer.backend}: available")
            else:
                names = ", ".join(FEATURES[k].split(" (")[0] for k in offer.missing)
                out.append(f"backend {offer.backend}: unavailable (missing {names})")
        auto = self.usable[0] if self.usable else "none: the data plane cannot run"
        out.append(f"backend auto: {auto}")
        return out


def report(kernel: Kernel, ifindex: int) -> Report:
    """Probe every feature (for ``pmip6d doctor``)."""
    prober = Prober(kernel, ifindex)
    for key in FEATURES:
        prober.has(key)
    offers = [prober.offer(backend) for backend in ORDER]
    return Report(dict(prober.results), offers, kernel.forwarding())


def report_for(interface: str | None = None, netns: str | None = None) -> tuple[Report, str]:
    """Probe the kernel of this (or the named) namespace; returns the report and where.

    Probes that need a device use ``interface`` when it exists and is up (the
    data plane's core interface), else the loopback device.
    """
    from .channel import Channel
    from .kernel import Ownership

    with Channel(netns) as channel:
        kernel = Kernel(channel, Ownership())
        where, ifindex = "lo", 1
        if interface:
            info = kernel.link(interface)
            if info is not None and info.flags & rtnl.IFF_UP:
                where, ifindex = interface, info.index
        return report(kernel, ifindex), where


__all__ = [
    "FEATURES",
    "ORDER",
    "REQUIREMENTS",
    "Choice",
    "Offer",
    "Prober",
    "Report",
    "UnsupportedKernel",
    "choose",
    "report",
    "report_for",
    "require",
]
