"""What the access-link configuration would change, computed from a link state (pure)."""

from __future__ import annotations

import pytest

from pmip6d.access.link import (
    IFA_F_DADFAILED,
    IFA_F_NODAD,
    IFA_F_PERMANENT,
    IFA_F_TENTATIVE,
    AccessLinkError,
    Address,
    Desired,
    LinkState,
    plan,
)

SHARED_MAC = "02:50:4d:41:47:01"
OWN_MAC = "96:19:7a:40:9d:a5"
EUI64 = "fe80::9419:7aff:fe40:9da5"
GOOD = IFA_F_PERMANENT | IFA_F_NODAD


def state(*addresses: Address, mac: str = OWN_MAC, gen_mode: int | None = 0) -> LinkState:
    return LinkState(
        interface="acc0", index=7, mac=mac, up=True, addr_gen_mode=gen_mode, addresses=addresses
    )


def kinds(changes) -> list[tuple[str, str]]:
    return [(c.kind, c.value) for c in changes]


CONFIG = Desired("acc0", link_local="fe80::1", mac=SHARED_MAC)


def test_fresh_interface_needs_everything():
    changes = plan(state(Address(EUI64, 64, IFA_F_PERMANENT)), CONFIG)
    assert kinds(changes) == [
        ("addr_gen_mode", "none"),
        ("mac", SHARED_MAC),
        ("add_address", "fe80::1/64"),
        ("del_address", f"{EUI64}/64"),
    ]
    assert changes[1].old == OWN_MAC
    assert str(changes[1]) == f"set mac {OWN_MAC} -> {SHARED_MAC}"
    assert str(changes[2]) == "add address fe80::1/64 (nodad)"


def test_configured_interface_needs_nothing():
    good = state(
        Address("fe80::1", 64, GOOD),
        Address("2001:db8::1", 64, IFA_F_PERMANENT),
        mac=SHARED_MAC,
        gen_mode=1,
    )
    assert plan(good, CONFIG) == []


def test_global_addresses_are_left_alone():
    s = state(Address("2001:db8::1", 64, IFA_F_PERMANENT), mac=SHARED_MAC, gen_mode=1)
    assert kinds(plan(s, CONFIG)) == [("add_address", "fe80::1/64")]


@pytest.mark.parametrize(
    ("prefixlen", "flags"),
    [(128, GOOD), (64, IFA_F_PERMANENT | IFA_F_TENTATIVE), (64, IFA_F_PERMANENT | IFA_F_DADFAILED)],
)
def test_our_address_in_the_wrong_form_is_replaced(prefixlen, flags):
    s = state(Address("fe80::1", prefixlen, flags), mac=SHARED_MAC, gen_mode=1)
    assert kinds(plan(s, CONFIG)) == [
        ("del_address", f"fe80::1/{prefixlen}"),
        ("add_address", "fe80::1/64"),
    ]


def test_a_dynamic_copy_of_our_address_is_replaced():
    s = state(Address("fe80::1", 64, 0), mac=SHARED_MAC, gen_mode=1)
    assert kinds(plan(s, CONFIG)) == [("del_address", "fe80::1/64"), ("add_address", "fe80::1/64")]


def test_other_link_locals_go():
    s = state(
        Address("fe80::1", 64, GOOD),
        Address("fe80::beef", 64, GOOD),
        Address("febf::1", 10, GOOD),
        mac=SHARED_MAC,
        gen_mode=1,
    )
    assert kinds(plan(s, CONFIG)) == [
        ("del_address", "fe80::beef/64"),
        ("del_address", "febf::1/10"),
    ]


def test_mac_none_keeps_the_interface_mac():
    config = Desired("acc0", link_local="fe80::1")
    s = state(Address("fe80::1", 64, GOOD), gen_mode=1)
    assert plan(s, config) == []


def test_scenario_one_leaves_the_interface_alone():
    config = Desired("acc0", link_local="fe80::1", mac=SHARED_MAC, shared=False)
    assert plan(state(Address(EUI64, 64, IFA_F_PERMANENT)), config) == []


def test_interface_without_ipv6_is_an_error():
    with pytest.raises(AccessLinkError, match="IPv6 is disabled"):
        plan(state(gen_mode=None), CONFIG)


def test_config_is_validated_and_normalised():
    c = Desired("acc0", link_local="FE80:0::0001", mac="02-50-4D-41-47-01")
    assert (c.link_local, c.mac) == ("fe80::1", SHARED_MAC)
    with pytest.raises(ValueError, match="link-local"):
        Desired("acc0", link_local="2001:db8::1")
    with pytest.raises(ValueError, match="not an IPv6 address"):
        Desired("acc0", link_local="fe80::zz")
    with pytest.raises(ValueError, match="multicast"):
        Desired("acc0", mac="01:00:5e:00:00:01")
    with pytest.raises(ValueError, match="MAC"):
        Desired("acc0", mac="02:00")
    with pytest.raises(ValueError, match="prefix length"):
        Desired("acc0", prefixlen=129)


def test_state_lists_its_link_locals():
    s = state(Address(EUI64, 64, GOOD), Address("2001:db8::1", 64, GOOD))
    assert [str(a) for a in s.link_locals] == [f"{EUI64}/64"]
