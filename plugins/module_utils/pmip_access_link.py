# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The identity of a MAG access interface: one MAC and one link-local address for all MAGs.

RFC 5213 section 6.8: every MAG of a domain uses the same link-local address
and (so that the mobile node's neighbour cache entry stays right) the same MAC
on its access links, so a mobile node's default router does not change when it
moves to another MAG. This module makes an interface look like that,
idempotently, through netlink:

1. ``addr_gen_mode`` none, so the kernel adds no EUI-64 link-local of its own
   (now, or when the MAC changes or the link comes back up);
2. the shared MAC (changed live if the driver allows it, otherwise with the
   link taken down and up, which also flushes its IPv6 addresses);
3. the configured link-local address, permanent and without DAD, and no other
   fe80::/10 address.

* :func:`plan` (pure): the changes that turn a :class:`LinkState` into what a
  :class:`Desired` asks for, in the order they must be made;
* :func:`view` / :func:`predict` (pure): the before/after that check and diff
  mode show;
* :class:`Netlink`: a thin pyroute2 shell that works with Debian 12's
  pyroute2 0.7 (the module on hosts) and with 0.9 (the agent's venv):
  attributes are read with ``get_attr`` and ``get_nested``, which both have
  (0.7's ``msg.get("IFLA_...")`` returns None);
* :func:`apply`: plan, make the link-level changes, re-read, make the address
  changes, re-read and verify; :func:`read_state`: one read.

With ``shared=False`` (scenario 1: per-MAG addresses) nothing is changed.

One implementation for the agent (``pmip6d/access/link.py``, which applies the
identity at every start) and the collection's ``pmip_access_link`` module (a
byte-identical copy in ``plugins/module_utils/pmip_access_link.py``, refreshed by
``scripts/sync-module-utils.sh`` and checked by a test): modules run with the
target's system Python and cannot import pmip6d, so this file imports only the
standard library and pyroute2.

Notes: an administrative ``link set down`` flushes IPv6 addresses unless
``keep_addr_on_down`` is set, so apply again after one (loss of carrier does
not flush). With ``addr_gen_mode`` none the kernel does not autoconfigure
addresses from RAs on this interface either, which a MAG never wants anyway.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import traceback
from collections import namedtuple
from typing import Any

# The MAC and address rules are the domain's shared ones (pmip6d/rules.py). This file
# has two homes, so it imports them from whichever it is in: the agent's package, or
# the collection's module_utils, where pmip6d is not installed (Ansible finds and
# ships the module_utils import; it is written out in full for that).
try:
    from pmip6d import rules
except ImportError:
    from ansible_collections.netlmm.pmipv6.plugins.module_utils import pmip_rules as rules

try:
    from pyroute2 import IPRoute, NetNS
except ImportError:
    IPRoute = NetNS = None
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None

ADDR_GEN_MODES = {0: "eui64", 1: "none", 2: "stable_privacy", 3: "random"}
IN6_ADDR_GEN_MODE_EUI64 = 0
IN6_ADDR_GEN_MODE_NONE = 1
IFA_F_NODAD = 0x02
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80
IFF_UP = 0x1
_LINK_LOCAL = ipaddress.IPv6Network("fe80::/10")
NETNS_DIR = "/run/netns"


class AccessLinkError(OSError):
    """The interface cannot be read or configured; the message says which and why.

    An OSError (what the kernel's refusal is underneath): this file may import
    nothing of the agent's, and the agent's CLI ends any OSError with its one line.
    """


def normalize_mac(text: Any) -> str:
    """``02:00:5E:00:53:01``, ``02-00-5e-00-53-01``, ``0200.5e00.5301`` -> ``02:00:5e:00:53:01``."""
    return rules.mac_address(text)


# --------------------------------------------------------------------------- state


class Address(namedtuple("Address", "address prefixlen flags")):
    """One IPv6 address of the interface; ``flags`` are the kernel's IFA_F_* bits."""

    __slots__ = ()

    @property
    def link_local(self) -> bool:
        return ipaddress.IPv6Address(self.address) in _LINK_LOCAL

    @property
    def usable(self) -> bool:
        """Permanent, and neither in duplicate address detection nor failed it."""
        return bool(self.flags & IFA_F_PERMANENT) and not self.flags & (
            IFA_F_TENTATIVE | IFA_F_DADFAILED
        )

    def __str__(self) -> str:
        return f"{self.address}/{self.prefixlen}"


class LinkState(namedtuple("LinkState", "interface index mac up addr_gen_mode addresses")):
    """What matters about an interface. ``addr_gen_mode`` is None without IPv6."""

    __slots__ = ()

    @property
    def link_locals(self) -> list[Address]:
        """The fe80::/10 addresses (scenario 1: the MAG's own, its RA source candidates)."""
        return [a for a in self.addresses if a.link_local]


class Change(namedtuple("Change", "kind value old")):
    """One change: ``addr_gen_mode``, ``mac``, ``del_address`` or ``add_address``."""

    __slots__ = ()

    def __str__(self) -> str:
        if self.kind == "del_address":
            return f"remove address {self.value}"
        if self.kind == "add_address":
            return f"add address {self.value} (nodad)"
        return f"set {self.kind} {self.old} -> {self.value}"


def mode_name(mode: int | None) -> str | None:
    if mode is None:
        return None
    return ADDR_GEN_MODES.get(mode, str(mode))


class Desired:
    """What the interface should look like. Raises ValueError for values that cannot be."""

    def __init__(
        self,
        interface: str,
        mac: str | None = None,
        link_local: str = "fe80::1",
        prefixlen: int | str = 64,
        shared: bool = True,
        addr_gen_mode: str = "none",
        remove_other_link_local: bool = True,
    ) -> None:
        if (
            not interface
            or len(interface) > 15
            or "/" in interface
            or interface.strip() != interface
        ):
            raise ValueError(f"{interface!r} is not an interface name")
        self.interface = interface
        self.mac: str | None = None
        if mac is not None:
            self.mac = rules.unicast_mac(mac)
        self.link_local = rules.link_local_address(str(link_local))
        if not 10 <= int(prefixlen) <= 128:
            raise ValueError(f"link-local prefix length {prefixlen} is not in 10..128")
        self.prefixlen = int(prefixlen)
        self.shared = bool(shared)
        if addr_gen_mode not in ("none", "keep"):
            raise ValueError(f"addr_gen_mode must be none or keep, not {addr_gen_mode!r}")
        self.addr_gen_mode = addr_gen_mode
        self.remove_other_link_local = bool(remove_other_link_local)

    @property
    def address_text(self) -> str:
        return f"{self.link_local}/{self.prefixlen}"


# --------------------------------------------------------------------------- planning (pure)


def plan(state: LinkState, desired: Desired) -> list[Change]:
    """The changes that turn ``state`` into ``desired``, in the order to make them.

    Order: addr_gen_mode first (so the kernel adds no EUI-64 link-local when the
    MAC changes), then the MAC, then a wrong form of our own address (wrong
    prefix length, tentative, DAD failed: the kernel refuses a duplicate), then
    ours is added, then the other link-locals go, so the link always has one.
    """
    if not desired.shared:
        return []
    if state.addr_gen_mode is None:
        raise AccessLinkError(f"{state.interface}: IPv6 is disabled on this interface")
    changes: list[Change] = []
    if desired.addr_gen_mode == "none" and state.addr_gen_mode != IN6_ADDR_GEN_MODE_NONE:
        changes.append(Change("addr_gen_mode", "none", mode_name(state.addr_gen_mode)))
    if desired.mac is not None and _same_mac(state.mac) != desired.mac:
        changes.append(Change("mac", desired.mac, state.mac))
    have = False
    same_address: list[Change] = []
    others: list[Change] = []
    for a in state.link_locals:
        ours = ipaddress.IPv6Address(a.address) == ipaddress.IPv6Address(desired.link_local)
        if ours and a.prefixlen == desired.prefixlen and a.usable and not have:
            have = True
        elif ours:
            same_address.append(Change("del_address", str(a), None))
        elif desired.remove_other_link_local:
            others.append(Change("del_address", str(a), None))
    changes += same_address
    if not have:
        changes.append(Change("add_address", desired.address_text, None))
    changes += others
    return changes


def _same_mac(text: str) -> str:
    try:
        return normalize_mac(text)
    except ValueError:  # no MAC (e.g. a tunnel): compare the text as it is
        return text


def view(state: LinkState) -> dict[str, Any]:
    """The part of ``state`` the module reports and diffs."""
    return {
        "mac": state.mac,
        "addr_gen_mode": mode_name(state.addr_gen_mode),
        "link_local": [str(a) for a in state.link_locals],
    }


def predict(state: LinkState, changes: list[Change]) -> dict[str, Any]:
    """``view`` of the state after ``changes`` (what check mode reports)."""
    after = view(state)
    addresses = list(after["link_local"])
    for change in changes:
        if change.kind == "addr_gen_mode":
            after["addr_gen_mode"] = change.value
        elif change.kind == "mac":
            after["mac"] = change.value
        elif change.kind == "del_address":
            if change.value in addresses:
                addresses.remove(change.value)
        elif change.kind == "add_address":
            addresses.append(change.value)
    after["link_local"] = addresses
    return after


# --------------------------------------------------------------------------- netlink


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    if code is None and isinstance(exc, OSError):
        code = exc.errno
    return code


def _attr(msg: Any, name: str) -> Any:
    try:
        return msg.get_attr(name)
    except (AttributeError, KeyError):
        return None


class Netlink:
    """pyroute2 calls, the same on 0.7 and 0.9. ``netns``: a name under /run/netns."""

    def __init__(self, netns: str | None = None, ipr: Any = None) -> None:
        self.netns = netns
        self._own = ipr is None
        if ipr is not None:
            self.ipr = ipr
            return
        if not HAS_PYROUTE2:
            raise AccessLinkError("the pyroute2 Python library is not installed")
        try:
            if netns is None:
                self.ipr = IPRoute()
            else:
                if not os.path.exists(os.path.join(NETNS_DIR, netns)):
                    raise AccessLinkError(f"no network namespace {netns!r} in {NETNS_DIR}")
                # flags=0: never create the namespace (pyroute2 would, by default).
                self.ipr = NetNS(netns, flags=0)
        except AccessLinkError:
            raise
        except Exception as exc:
            raise AccessLinkError(f"cannot open netlink{self._where()}: {exc}") from exc

    def _where(self) -> str:
        return f" in network namespace {self.netns}" if self.netns else ""

    def close(self) -> None:
        if self._own:
            self.ipr.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def read(self, interface: str) -> LinkState:
        try:
            indexes = list(self.ipr.link_lookup(ifname=interface))
            if not indexes:
                raise AccessLinkError(f"{interface}: no such interface{self._where()}")
            index = indexes[0]
            link = next(iter(self.ipr.get_links(index)))
            addresses = []
            for msg in self.ipr.get_addr(family=socket.AF_INET6, index=index):
                if msg["index"] != index:  # older pyroute2 may not filter by index
                    continue
                flags = _attr(msg, "IFA_FLAGS")
                addresses.append(
                    Address(
                        _attr(msg, "IFA_ADDRESS"),
                        msg["prefixlen"],
                        flags if flags is not None else msg["flags"],
                    )
                )
            try:
                gen_mode = link.get_nested("IFLA_AF_SPEC", "AF_INET6", "IFLA_INET6_ADDR_GEN_MODE")
            except (AttributeError, KeyError, TypeError):
                gen_mode = None
        except AccessLinkError:
            raise
        except Exception as exc:
            raise AccessLinkError(f"{interface}: cannot read the interface: {exc}") from exc
        return LinkState(
            interface=interface,
            index=index,
            mac=(_attr(link, "IFLA_ADDRESS") or "").lower(),
            up=bool(link["flags"] & IFF_UP),
            addr_gen_mode=gen_mode,
            addresses=tuple(addresses),
        )

    def _call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> None:
        ignore = kwargs.pop("ignore", ())
        try:
            method(*args, **kwargs)
        except Exception as exc:
            if _code(exc) in ignore:
                return
            raise AccessLinkError(f"{what}: {exc}") from exc

    def set_addr_gen_mode_none(self, state: LinkState) -> None:
        spec = {
            "attrs": [
                ["AF_INET6", {"attrs": [["IFLA_INET6_ADDR_GEN_MODE", IN6_ADDR_GEN_MODE_NONE]]}]
            ]
        }
        self._call(
            f"{state.interface}: cannot set addr_gen_mode none",
            self.ipr.link,
            "set",
            index=state.index,
            IFLA_AF_SPEC=spec,
        )

    def set_mac(self, state: LinkState, mac: str) -> None:
        what = f"{state.interface}: cannot set MAC {mac}"
        try:
            self.ipr.link("set", index=state.index, address=mac)
            return
        except Exception as exc:
            if _code(exc) != errno.EBUSY:
                raise AccessLinkError(f"{what}: {exc}") from exc
        # The driver cannot change its address while up: down, change, up again.
        # Going down flushes the IPv6 addresses; apply() re-plans them afterwards.
        self._call(what, self.ipr.link, "set", index=state.index, state="down")
        try:
            self._call(what, self.ipr.link, "set", index=state.index, address=mac)
        finally:
            if state.up:
                self._call(what, self.ipr.link, "set", index=state.index, state="up")

    def add_address(self, state: LinkState, address: str, prefixlen: int) -> None:
        self._call(
            f"{state.interface}: cannot add {address}/{prefixlen}",
            self.ipr.addr,
            "add",
            index=state.index,
            address=address,
            prefixlen=prefixlen,
            flags=IFA_F_NODAD,
            ignore=(errno.EEXIST,),
        )

    def del_address(self, state: LinkState, address: str, prefixlen: int) -> None:
        self._call(
            f"{state.interface}: cannot remove {address}/{prefixlen}",
            self.ipr.addr,
            "del",
            index=state.index,
            address=address,
            prefixlen=prefixlen,
            ignore=(errno.EADDRNOTAVAIL, errno.ESRCH),
        )


def read_state(interface: str, netns: str | None = None, ipr: Any = None) -> LinkState:
    """One read of the interface (own netlink socket unless ``ipr`` is given)."""
    with Netlink(netns=netns, ipr=ipr) as netlink:
        return netlink.read(interface)


def apply(
    netlink: Netlink, desired: Desired, rounds: int = 3
) -> tuple[LinkState, list[Change], LinkState]:
    """Make the interface look like ``desired``; ``(before, changes made, after)``.

    The address changes are planned again after the link-level ones: a MAC
    change with the link down flushes addresses, and the kernel may add a
    link-local of its own; a few rounds settle that. Whatever still differs at
    the end is an error, never a silent ``changed``.
    """
    before = netlink.read(desired.interface)
    state = before
    done: list[Change] = []
    for change in plan(state, desired):
        if change.kind == "addr_gen_mode":
            netlink.set_addr_gen_mode_none(state)
            done.append(change)
        elif change.kind == "mac":
            netlink.set_mac(state, change.value)
            done.append(change)
    if done:
        state = netlink.read(desired.interface)
    for _round in range(rounds):
        pending = plan(state, desired)
        if not pending:
            break
        for change in pending:
            if change.kind in ("addr_gen_mode", "mac"):
                raise AccessLinkError(
                    f"{desired.interface}: the kernel did not keep the change: {change}"
                )
            address, prefixlen = change.value.split("/")
            if change.kind == "del_address":
                netlink.del_address(state, address, int(prefixlen))
            else:
                netlink.add_address(state, address, int(prefixlen))
            done.append(change)
        state = netlink.read(desired.interface)
    remaining = plan(state, desired)
    if remaining:
        raise AccessLinkError(
            "{}: still not as asked after applying: {}".format(
                desired.interface, "; ".join(str(c) for c in remaining)
            )
        )
    return before, done, state
