# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pmip_rules: the agent's rules.py, vendored byte for byte, and the rules themselves."""

from __future__ import annotations

import ast
import ipaddress
from pathlib import Path

import pytest
from ansible_collections.netlmm.pmipv6.plugins.module_utils import pmip_rules as rules

ROOT = Path(__file__).absolute().parents[4]
AGENT_COPY = ROOT / "files" / "pmip6d" / "src" / "pmip6d" / "rules.py"
VENDORED = ROOT / "plugins" / "module_utils" / "pmip_rules.py"


def test_the_vendored_copy_is_the_agents_file():
    """One text in two places: edit the agent's copy, run scripts/sync-module-utils.sh."""
    assert VENDORED.read_bytes() == AGENT_COPY.read_bytes(), (
        f"{VENDORED} differs from {AGENT_COPY}: run scripts/sync-module-utils.sh"
    )


def test_it_parses_as_python_3_8_and_imports_only_the_standard_library():
    tree = ast.parse(VENDORED.read_text(), feature_version=(3, 8))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported == {"__future__", "collections", "ipaddress", "re", "typing"}


@pytest.mark.parametrize(
    "text", ["02:00:5e:00:53:01", "02-00-5E-00-53-01", "0200.5e00.5301", "02005e005301"]
)
def test_mac_spellings(text):
    assert rules.parse_mac(text) == bytes.fromhex("02005e005301")
    assert rules.mac_address(text) == "02:00:5e:00:53:01"
    assert rules.unicast_mac(text) == "02:00:5e:00:53:01"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("02:00:5e:00:53", "'02:00:5e:00:53' is not a MAC address"),
        ("zz:00:5e:00:53:01", "'zz:00:5e:00:53:01' is not a MAC address"),
        (4000000,
         "4000000 is not a MAC address: quote MAC addresses, YAML read this one as a number"),
        (True, "True is not a MAC address"),
        (None, "None is not a MAC address"),
        ("01:00:5e:00:00:01", "01:00:5e:00:00:01 is a multicast MAC address"),
        ("ff:ff:ff:ff:ff:ff", "ff:ff:ff:ff:ff:ff is a multicast MAC address"),
        ("0000.0000.0000", "0000.0000.0000 is the all-zero MAC address"),
    ],
)  # fmt: skip
def test_unicast_mac_refusals(value, problem):
    with pytest.raises(ValueError) as err:
        rules.unicast_mac(value)
    assert str(err.value) == problem


def test_mac_text_and_predicates():
    assert rules.mac_text(bytes.fromhex("02005e005301")) == "02:00:5e:00:53:01"
    assert rules.is_multicast_mac(bytes.fromhex("333300000001"))
    assert not rules.is_multicast_mac(bytes.fromhex("02005e005301"))
    assert rules.is_zero_mac(bytes(6)) and not rules.is_zero_mac(bytes.fromhex("020000000001"))


@pytest.mark.parametrize(
    ("value", "result"),
    [
        ("2001:0DB8:FFFF:0:0:0:0:0011", "2001:db8:ffff::11"),
        (" 2001:db8::1 ", "2001:db8::1"),
        ("fd00::1", "fd00::1"),
    ],
)
def test_routable_address(value, result):
    assert rules.ipv6_address(value) == result
    assert rules.routable_address(value) == result


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("fe80::11", "fe80::11 is a link-local address; a routable unicast address is needed"),
        ("ff02::1", "ff02::1 is a multicast address; a routable unicast address is needed"),
        ("::", ":: is a unspecified address; a routable unicast address is needed"),
        ("2001:db8::zz", "'2001:db8::zz' is not an IPv6 address"),
        ("fe80::1%eth0", "'fe80::1%eth0' is not an IPv6 address"),
        ("192.0.2.1", "'192.0.2.1' is not an IPv6 address"),
        (17, "17 is not an IPv6 address"),
    ],
)
def test_routable_address_refusals(value, problem):
    with pytest.raises(ValueError) as err:
        rules.routable_address(value)
    assert str(err.value) == problem


def test_link_local_and_any_ip():
    assert rules.link_local_address("FE80:0::1") == "fe80::1"
    with pytest.raises(ValueError, match=r"^2001:db8::1 is not a link-local \(fe80::/10\)"):
        rules.link_local_address("2001:db8::1")
    assert rules.ip_address("192.0.2.1") == "192.0.2.1"
    assert rules.ip_address("fd00:a1::2") == "fd00:a1::2"
    with pytest.raises(ValueError, match=r"^'ap1' is not an IP address$"):
        rules.ip_address("ap1")


def test_prefixes_and_overlaps():
    assert rules.ipv6_prefix("2001:db8:100::/48") == ipaddress.IPv6Network("2001:db8:100::/48")
    with pytest.raises(ValueError, match="host bits set"):
        rules.ipv6_prefix("2001:db8:100::1/48")
    with pytest.raises(ValueError, match=r"^None is not an IPv6 prefix$"):
        rules.ipv6_prefix(None)
    nets = [
        (ipaddress.IPv6Network("2001:db8:100::/48"), "pool"),
        (ipaddress.IPv6Network("2001:db8:200::/64"), "a"),
        (ipaddress.IPv6Network("2001:db8:100:5::/64"), "b"),
        (ipaddress.IPv6Network("2001:db8:200::/63"), "c"),
    ]
    found = [(where, other_where) for _n, where, _o, other_where in rules.overlaps(nets)]
    assert found == [("b", "pool"), ("c", "a")]
    assert [w for _n, w in rules.overlapping(nets[2][0], nets)] == ["pool", "b"]


def test_names_and_unique():
    assert rules.is_name("mag-1.site_a") and not rules.is_name("-mag")
    assert rules.is_name("a" * 64) and not rules.is_name("a" * 65)
    assert rules.is_interface_name("eth0.100") and not rules.is_interface_name("a" * 16)
    assert not rules.is_interface_name(["eth0"])
    assert rules.domain_name("lab.example") == "lab.example"
    for bad in ("lab@example", "lab example", "", 5):
        with pytest.raises(ValueError, match="is not a domain name"):
            rules.domain_name(bad)
    seen = rules.Unique()
    assert seen.claim("x", "first") is None
    assert seen.claim("x", "second") == "first"
    assert seen.claim("x", "third") == "first"
    assert "x" in seen and "y" not in seen
