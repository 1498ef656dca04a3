# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Access link planning (state in, changes out) and apply() over a fake kernel.

The fake is a stand-in for pyroute2's IPRoute with the kernel behaviour that
matters here (EEXIST/EADDRNOTAVAIL, link down flushes IPv6 addresses, EUI-64
link-local on up, drivers that refuse a MAC change while up); the real
netlink path is tested in a network namespace (modules/test_pmip_access_link.py).
"""

from __future__ import annotations

import errno
import ipaddress

import pytest
from ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_access_link import (
    IFA_F_DADFAILED,
    IFA_F_NODAD,
    IFA_F_PERMANENT,
    IFA_F_TENTATIVE,
    AccessLinkError,
    Address,
    Change,
    Desired,
    LinkState,
    Netlink,
    apply,
    plan,
    predict,
    view,
)

SHARED_MAC = "02:50:4d:49:50:36"
OWN_MAC = "9a:1c:0b:6e:43:10"
EUI64 = "fe80::981c:bff:fe6e:4310"
PERM = IFA_F_PERMANENT


def state(mac=OWN_MAC, gen_mode=0, addresses=((EUI64, 64, PERM),), up=True):
    return LinkState(
        interface="acc0",
        index=7,
        mac=mac,
        up=up,
        addr_gen_mode=gen_mode,
        addresses=tuple(Address(*a) for a in addresses),
    )


def kinds(changes):
    return [(c.kind, c.value) for c in changes]


# --------------------------------------------------------------------------- Desired


def test_desired_validates_and_normalizes():
    d = Desired("acc0", mac="02-50-4D-49-50-36", link_local="FE80::0:1", prefixlen="64")
    assert (d.mac, d.link_local, d.prefixlen, d.address_text) == (
        SHARED_MAC,
        "fe80::1",
        64,
        "fe80::1/64",
    )
    with pytest.raises(ValueError, match="multicast MAC"):
        Desired("acc0", mac="01:00:5e:00:00:01")
    with pytest.raises(ValueError, match="all-zero MAC"):
        Desired("acc0", mac="00:00:00:00:00:00")
    with pytest.raises(ValueError, match="not a MAC address"):
        Desired("acc0", mac="02:50:4d")
    with pytest.raises(ValueError, match="not a link-local"):
        Desired("acc0", link_local="2001:db8::1")
    with pytest.raises(ValueError, match="not an IPv6 address"):
        Desired("acc0", link_local="fe80::g")
    with pytest.raises(ValueError, match=r"not in 10\.\.128"):
        Desired("acc0", prefixlen=8)
    with pytest.raises(ValueError, match="not an interface name"):
        Desired("a/b")
    with pytest.raises(ValueError, match="not an interface name"):
        Desired("x" * 16)
    with pytest.raises(ValueError, match="addr_gen_mode must be none or keep"):
        Desired("acc0", addr_gen_mode="eui64")


# --------------------------------------------------------------------------- plan (pure)


def test_plan_from_a_fresh_interface():
    changes = plan(state(), Desired("acc0", mac=SHARED_MAC))
    assert kinds(changes) == [
        ("addr_gen_mode", "none"),
        ("mac", SHARED_MAC),
        ("add_address", "fe80::1/64"),
        ("del_address", f"{EUI64}/64"),
    ]
    assert [str(c) for c in changes] == [
        "set addr_gen_mode eui64 -> none",
        f"set mac {OWN_MAC} -> {SHARED_MAC}",
        "add address fe80::1/64 (nodad)",
        f"remove address {EUI64}/64",
    ]


def test_plan_nothing_to_do():
    done = state(mac=SHARED_MAC, gen_mode=1, addresses=(("fe80::1", 64, PERM | IFA_F_NODAD),))
    assert plan(done, Desired("acc0", mac=SHARED_MAC)) == []
    # MAC spelled differently by the kernel is still the same MAC
    assert plan(done._replace(mac=SHARED_MAC.upper()), Desired("acc0", mac=SHARED_MAC)) == []


def test_plan_without_mac_keeps_the_interfaces_own():
    changes = plan(state(gen_mode=1), Desired("acc0"))
    assert kinds(changes) == [("add_address", "fe80::1/64"), ("del_address", f"{EUI64}/64")]


def test_plan_keeps_global_addresses():
    s = state(gen_mode=1, addresses=(("fe80::1", 64, PERM), ("2001:db8:1::1", 64, PERM)))
    assert plan(s, Desired("acc0")) == []


def test_plan_replaces_a_wrong_form_of_our_address_first():
    s = state(
        gen_mode=1,
        addresses=(("fe80::1", 128, PERM), (EUI64, 64, PERM)),
    )
    assert kinds(plan(s, Desired("acc0"))) == [
        ("del_address", "fe80::1/128"),
        ("add_address", "fe80::1/64"),
        ("del_address", f"{EUI64}/64"),
    ]


@pytest.mark.parametrize("flags", [IFA_F_TENTATIVE | PERM, IFA_F_DADFAILED | PERM, 0])
def test_plan_replaces_an_unusable_copy(flags):
    s = state(gen_mode=1, addresses=(("fe80::1", 64, flags),))
    assert kinds(plan(s, Desired("acc0"))) == [
        ("del_address", "fe80::1/64"),
        ("add_address", "fe80::1/64"),
    ]


def test_plan_keep_gen_mode_and_other_link_locals():
    s = state(gen_mode=0)
    desired = Desired("acc0", addr_gen_mode="keep", remove_other_link_local=False)
    assert kinds(plan(s, desired)) == [("add_address", "fe80::1/64")]


def test_plan_not_shared_leaves_the_interface_alone():
    assert plan(state(), Desired("acc0", mac=SHARED_MAC, shared=False)) == []


def test_plan_ipv6_disabled():
    with pytest.raises(AccessLinkError, match="acc0: IPv6 is disabled"):
        plan(state(gen_mode=None), Desired("acc0"))


def test_view_and_predict():
    s = state()
    changes = plan(s, Desired("acc0", mac=SHARED_MAC))
    assert view(s) == {"mac": OWN_MAC, "addr_gen_mode": "eui64", "link_local": [f"{EUI64}/64"]}
    assert predict(s, changes) == {
        "mac": SHARED_MAC,
        "addr_gen_mode": "none",
        "link_local": ["fe80::1/64"],
    }
    assert predict(s, []) == view(s)


# --------------------------------------------------------------------------- a fake kernel


class FakeNetlinkError(Exception):
    def __init__(self, code, text):
        super().__init__(code, text)
        self.code = code


class Msg(dict):
    """A netlink message: fields by item, attributes by get_attr/get_nested (pyroute2 API)."""

    def __init__(self, fields, attrs):
        super().__init__(fields)
        self.attrs = attrs

    def get_attr(self, name):
        return self.attrs.get(name)

    def get_nested(self, *names):
        value = self.attrs
        for name in names:
            if value is None:
                return None
            value = value.get(name)
        return value


class FakeKernel:
    """One interface (index 7, acc0) with the kernel behaviour apply() depends on."""

    def __init__(self, mac=OWN_MAC, gen_mode=0, up=True, busy_when_up=False, ipv6=True):
        self.mac = mac
        self.gen_mode = gen_mode
        self.up = up
        self.busy_when_up = busy_when_up
        self.ipv6 = ipv6
        self.addresses = {}  # (address, prefixlen) -> flags
        self.calls = []
        if up and gen_mode == 0:
            self._eui64()

    def _eui64(self):
        b = bytes(int(x, 16) for x in self.mac.split(":"))
        ll = f"fe80::{b[0] ^ 2:02x}{b[1]:02x}:{b[2]:02x}ff:fe{b[3]:02x}:{b[4]:02x}{b[5]:02x}"
        self.addresses[(ipaddress.IPv6Address(ll).compressed, 64)] = PERM

    # pyroute2 IPRoute API subset
    def link_lookup(self, ifname):
        return [7] if ifname == "acc0" else []

    def get_links(self, index):
        spec = {"AF_INET6": {"IFLA_INET6_ADDR_GEN_MODE": self.gen_mode}} if self.ipv6 else {}
        return (
            Msg(
                {"index": 7, "flags": 0x1 if self.up else 0},
                {"IFLA_ADDRESS": self.mac, "IFLA_IFNAME": "acc0", "IFLA_AF_SPEC": spec},
            ),
        )

    def get_addr(self, family, index):
        return [
            Msg(
                {"index": 7, "prefixlen": p, "flags": f & 0xFF},
                {"IFA_ADDRESS": a, "IFA_FLAGS": f},
            )
            for (a, p), f in self.addresses.items()
        ]

    def link(self, command, index, **kwargs):
        self.calls.append(("link", command, kwargs))
        assert command == "set" and index == 7
        if "IFLA_AF_SPEC" in kwargs:
            (af,) = kwargs["IFLA_AF_SPEC"]["attrs"]
            (attr,) = af[1]["attrs"]
            self.gen_mode = attr[1]
        if "address" in kwargs:
            if self.up and self.busy_when_up:
                raise FakeNetlinkError(errno.EBUSY, "Device or resource busy")
            self.mac = kwargs["address"]
        if kwargs.get("state") == "down":
            self.up = False
            self.addresses.clear()  # an administrative down flushes IPv6 addresses
        if kwargs.get("state") == "up":
            self.up = True
            if self.gen_mode == 0:
                self._eui64()

    def addr(self, command, index, address, prefixlen, flags=0):
        self.calls.append(("addr", command, address, prefixlen))
        key = (address, prefixlen)
        if command == "add":
            if key in self.addresses:
                raise FakeNetlinkError(errno.EEXIST, "File exists")
            self.addresses[key] = flags | PERM
        elif command == "del":
            if key not in self.addresses:
                raise FakeNetlinkError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
            del self.addresses[key]

    def close(self):
        pass


def test_apply_makes_the_changes_then_nothing():
    kernel = FakeKernel()
    netlink = Netlink(ipr=kernel)
    desired = Desired("acc0", mac=SHARED_MAC)
    before, done, after = apply(netlink, desired)
    assert view(before)["mac"] == OWN_MAC
    assert kinds(done) == [
        ("addr_gen_mode", "none"),
        ("mac", SHARED_MAC),
        ("add_address", "fe80::1/64"),
        ("del_address", f"{EUI64}/64"),
    ]
    assert view(after) == {"mac": SHARED_MAC, "addr_gen_mode": "none", "link_local": ["fe80::1/64"]}
    assert kernel.addresses == {("fe80::1", 64): PERM | IFA_F_NODAD}
    kernel.calls.clear()
    _before, done, _after = apply(netlink, desired)
    assert done == []
    assert kernel.calls == []


def test_apply_when_the_driver_needs_the_link_down_for_a_mac_change():
    kernel = FakeKernel(busy_when_up=True)
    netlink = Netlink(ipr=kernel)
    _before, done, after = apply(netlink, Desired("acc0", mac=SHARED_MAC))
    assert kernel.up and kernel.mac == SHARED_MAC
    # down flushed the EUI-64 address, so only ours is added: no removal needed
    assert kinds(done) == [
        ("addr_gen_mode", "none"),
        ("mac", SHARED_MAC),
        ("add_address", "fe80::1/64"),
    ]
    assert view(after)["link_local"] == ["fe80::1/64"]
    assert [c[2] for c in kernel.calls if c[0] == "link"][-3:] == [
        {"state": "down"},
        {"address": SHARED_MAC},
        {"state": "up"},
    ]


def test_apply_keeps_a_down_link_down():
    kernel = FakeKernel(busy_when_up=True, up=False)
    apply(Netlink(ipr=kernel), Desired("acc0", mac=SHARED_MAC))
    assert not kernel.up and kernel.mac == SHARED_MAC


def test_apply_with_gen_mode_kept_removes_what_the_kernel_re_adds():
    kernel = FakeKernel(busy_when_up=True)  # eui64 mode: up re-adds an EUI-64 address
    _before, done, after = apply(
        Netlink(ipr=kernel), Desired("acc0", mac=SHARED_MAC, addr_gen_mode="keep")
    )
    assert view(after) == {
        "mac": SHARED_MAC,
        "addr_gen_mode": "eui64",
        "link_local": ["fe80::1/64"],
    }
    assert ("del_address", "fe80::50:4dff:fe49:5036/64") in kinds(done)


def test_apply_fails_if_the_kernel_does_not_keep_a_change():
    class Stubborn(FakeKernel):
        def link(self, command, index, **kwargs):
            self.calls.append(("link", command, kwargs))  # accepts, changes nothing

    with pytest.raises(AccessLinkError, match="acc0: the kernel did not keep the change: set"):
        apply(Netlink(ipr=Stubborn()), Desired("acc0", mac=SHARED_MAC))


def test_apply_reports_netlink_errors():
    class Refusing(FakeKernel):
        def addr(self, command, index, address, prefixlen, flags=0):
            raise FakeNetlinkError(errno.EACCES, "Permission denied")

    with pytest.raises(AccessLinkError, match=r"acc0: cannot add fe80::1/64: .*Permission denied"):
        apply(Netlink(ipr=Refusing(gen_mode=1)), Desired("acc0"))


def test_read_errors():
    with pytest.raises(AccessLinkError, match="wlan9: no such interface"):
        Netlink(ipr=FakeKernel()).read("wlan9")
    with pytest.raises(AccessLinkError, match="IPv6 is disabled"):
        apply(Netlink(ipr=FakeKernel(ipv6=False)), Desired("acc0"))


def test_change_text():
    assert str(Change("mac", "b", "a")) == "set mac a -> b"
