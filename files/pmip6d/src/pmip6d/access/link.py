"""The identity of a MAG access interface: one MAC and one link-local address for all MAGs.

RFC 5213 §6.8: every MAG of a domain uses the same link-local address (and,
so that the MN's neighbour cache entry stays right, the same MAC) on its
access links, so the mobile node's default router does not change when it
moves to another MAG. This module makes an interface look like that,
idempotently, through netlink (pyroute2):

1. ``addr_gen_mode`` none, so the kernel adds no EUI-64 link-local of its own
   (now or when the MAC changes or the link comes back up);
2. the shared MAC (changed live if the driver allows it, otherwise with the
   link taken down and up, which also flushes its IPv6 addresses);
3. the configured link-local address, permanent and without DAD, and no other
   fe80::/10 address.

:func:`plan` computes the changes without making them (check mode), :func:`apply`
makes them and returns what it changed (empty: nothing to do). With
``shared=False`` (experiment "scenario 1": per-MAG addresses) both leave the
interface alone.

Notes: an administrative ``link set down`` flushes IPv6 addresses unless
``keep_addr_on_down`` is set, so run :func:`apply` again after one (loss of
carrier does not flush). With ``addr_gen_mode`` none the kernel does not
autoconfigure addresses from RAs on this interface either, which a MAG never
wants anyway.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import PmipError
from ..rules import link_local_address, unicast_mac

IN6_ADDR_GEN_MODE_EUI64 = 0
IN6_ADDR_GEN_MODE_NONE = 1
IFA_F_NODAD = 0x02
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80
IFF_UP = 0x1
_LINK_LOCAL = ipaddress.IPv6Network("fe80::/10")


class LinkError(PmipError):
    """The access interface cannot be inspected or configured; the message says why."""


@dataclass(slots=True, frozen=True)
class AccessLinkConfig:
    interface: str
    link_local: str = "fe80::1"
    """The link-local address all MAGs share (``MagConfig.link_local_address``)."""
    mac: str | None = None
    """The MAC all MAGs share on their access links; None keeps the interface's own."""
    prefixlen: int = 64
    shared: bool = True
    """False: leave the interface's own MAC and link-local addresses alone (scenario 1)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "link_local", link_local_address(self.link_local))
        if self.mac is not None:
            object.__setattr__(self, "mac", unicast_mac(self.mac))
        if not 10 <= self.prefixlen <= 128:
            raise ValueError(f"link-local prefix length {self.prefixlen} is not in 10..128")


@dataclass(slots=True, frozen=True)
class LinkAddress:
    address: str
    prefixlen: int
    flags: int

    @property
    def link_local(self) -> bool:
        return ipaddress.IPv6Address(self.address) in _LINK_LOCAL

    @property
    def usable(self) -> bool:
        """Permanent, and neither still in DAD nor failed it."""
        return bool(self.flags & IFA_F_PERMANENT) and not self.flags & (
            IFA_F_TENTATIVE | IFA_F_DADFAILED
        )


@dataclass(slots=True, frozen=True)
class LinkState:
    """What matters about an interface, as read through netlink."""

    interface: str
    index: int
    mac: str
    up: bool
    addr_gen_mode: int | None
    """None when the interface has no IPv6 (disabled, or MTU below 1280)."""
    addresses: tuple[LinkAddress, ...]

    @property
    def link_locals(self) -> list[str]:
        """The interface's fe80::/10 addresses (scenario 1: its RA source candidates)."""
        return [a.address for a in self.addresses if a.link_local]


@dataclass(slots=True, frozen=True)
class LinkChange:
    """One change :func:`apply` makes (or :func:`plan` would make)."""

    kind: str
    """``addr_gen_mode``, ``mac``, ``del_address`` or ``add_address``."""
    value: str
    old: str | None = None

    def __str__(self) -> str:
        if self.kind == "del_address":
            return f"remove address {self.value}"
        if self.kind == "add_address":
            return f"add address {self.value} (nodad)"
        return f"set {self.kind} {self.old} → {self.value}"


def diff(state: LinkState, config: AccessLinkConfig) -> list[LinkChange]:
    """The changes that turn ``state`` into what ``config`` asks for (pure)."""
    if not config.shared:
        return []
    if state.addr_gen_mode is None:
        raise LinkError(f"{state.interface}: IPv6 is disabled on this interface")
    changes: list[LinkChange] = []
    if state.addr_gen_mode != IN6_ADDR_GEN_MODE_NONE:
        changes.append(
            LinkChange("addr_gen_mode", str(IN6_ADDR_GEN_MODE_NONE), str(state.addr_gen_mode))
        )
    if config.mac is not None and state.mac != config.mac:
        changes.append(LinkChange("mac", config.mac, state.mac))
    wanted = config.link_local
    have = False
    same_address: list[LinkChange] = []
    others: list[LinkChange] = []
    for a in state.addresses:
        if not a.link_local:
            continue
        if a.address == wanted and a.prefixlen == config.prefixlen and a.usable and not have:
            have = True
        elif a.address == wanted:
            same_address.append(LinkChange("del_address", f"{a.address}/{a.prefixlen}"))
        else:
            others.append(LinkChange("del_address", f"{a.address}/{a.prefixlen}"))
    # The wrong form of our own address goes first (the kernel refuses a duplicate),
    # then ours is added, then the others go: the link is never without a link-local.
    changes += same_address
    if not have:
        changes.append(LinkChange("add_address", f"{wanted}/{config.prefixlen}"))
    changes += others
    return changes


@contextmanager
def _rtnl(ipr: Any, netns: str | None) -> Iterator[Any]:
    if ipr is not None:
        yield ipr
        return
    from pyroute2 import IPRoute

    with IPRoute(netns=netns) if netns is not None else IPRoute() as own:
        yield own


def read_state(interface: str, *, ipr: Any = None, netns: str | None = None) -> LinkState:
    """The interface's MAC, state, addr_gen_mode and IPv6 addresses."""
    with _rtnl(ipr, netns) as rtnl:
        return _read(rtnl, interface)


def plan(
    config: AccessLinkConfig, *, ipr: Any = None, netns: str | None = None
) -> list[LinkChange]:
    """What :func:`apply` would change, without changing anything (Ansible check mode).

    If the MAC can only be changed with the link down, the kernel also flushes
    the link's addresses, and :func:`apply` re-adds the link-local address even
    if this plan does not list it.
    """
    with _rtnl(ipr, netns) as rtnl:
        return diff(_read(rtnl, config.interface), config)


def apply(
    config: AccessLinkConfig, *, ipr: Any = None, netns: str | None = None
) -> list[LinkChange]:
    """Give the interface the shared identity; the changes made (empty: none were needed)."""
    with _rtnl(ipr, netns) as rtnl:
        state = _read(rtnl, config.interface)
        done: list[LinkChange] = []
        for change in diff(state, config):
            if change.kind == "addr_gen_mode":
                _call(rtnl.link, "set", index=state.index, IFLA_AF_SPEC=_gen_mode_spec())
                done.append(change)
            elif change.kind == "mac":
                _set_mac(rtnl, state, change.value)
                done.append(change)
        if done:
            state = _read(rtnl, config.interface)
        for change in diff(state, config):
            if change.kind == "del_address":
                address, prefixlen = change.value.split("/")
                _call(
                    rtnl.addr,
                    "del",
                    index=state.index,
                    address=address,
                    prefixlen=int(prefixlen),
                    ignore=(errno.EADDRNOTAVAIL, errno.ESRCH),
                )
                done.append(change)
            elif change.kind == "add_address":
                _call(
                    rtnl.addr,
                    "add",
                    index=state.index,
                    address=config.link_local,
                    prefixlen=config.prefixlen,
                    flags=IFA_F_NODAD,
                    ignore=(errno.EEXIST,),
                )
                done.append(change)
            else:  # the kernel did not keep what was set above
                raise LinkError(f"{config.interface}: could not {change}")
        return done


# --------------------------------------------------------------------------- netlink


def _read(rtnl: Any, interface: str) -> LinkState:
    try:
        indexes = rtnl.link_lookup(ifname=interface)
        if not indexes:
            raise LinkError(f"{interface}: no such interface")
        index = indexes[0]
        link = rtnl.get_links(index)[0]
        addresses = tuple(
            LinkAddress(
                a.get("IFA_ADDRESS"),
                a["prefixlen"],
                a.get("IFA_FLAGS") if a.get("IFA_FLAGS") is not None else a["flags"],
            )
            for a in rtnl.get_addr(family=socket.AF_INET6, index=index)
        )
    except LinkError:
        raise
    except Exception as exc:
        raise LinkError(f"{interface}: cannot read the interface: {exc}") from exc
    gen_mode = None
    spec = link.get("IFLA_AF_SPEC")
    inet6 = spec.get("AF_INET6") if spec is not None else None
    if inet6 is not None:
        gen_mode = inet6.get("IFLA_INET6_ADDR_GEN_MODE")
    return LinkState(
        interface=interface,
        index=index,
        mac=link.get("IFLA_ADDRESS") or "",
        up=bool(link["flags"] & IFF_UP),
        addr_gen_mode=gen_mode,
        addresses=addresses,
    )


def _gen_mode_spec() -> dict:
    return {
        "attrs": [["AF_INET6", {"attrs": [["IFLA_INET6_ADDR_GEN_MODE", IN6_ADDR_GEN_MODE_NONE]]}]]
    }


def _set_mac(rtnl: Any, state: LinkState, mac: str) -> None:
    try:
        rtnl.link("set", index=state.index, address=mac)
        return
    except Exception as exc:
        if getattr(exc, "code", None) != errno.EBUSY:
            raise LinkError(f"{state.interface}: cannot set MAC {mac}: {exc}") from exc
    # The driver cannot change its address while up: down, change, up again.
    _call(rtnl.link, "set", index=state.index, state="down")
    try:
        _call(rtnl.link, "set", index=state.index, address=mac)
    finally:
        if state.up:
            _call(rtnl.link, "set", index=state.index, state="up")


def _call(method: Any, *args: Any, ignore: tuple[int, ...] = (), **kwargs: Any) -> None:
    try:
        method(*args, **kwargs)
    except Exception as exc:
        if getattr(exc, "code", None) in ignore:
            return
        raise LinkError(f"netlink {method.__name__} {args[0]} {kwargs}: {exc}") from exc


__all__ = [
    "AccessLinkConfig",
    "LinkAddress",
    "LinkChange",
    "LinkError",
    "LinkState",
    "apply",
    "diff",
    "plan",
    "read_state",
]
