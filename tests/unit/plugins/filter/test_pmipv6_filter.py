# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pmipv6_inventory_errors and pmipv6_policy: plain dicts, and Ansible's real HostVars."""

from __future__ import annotations

import copy

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.netlmm.pmipv6.plugins.filter.pmipv6 import (
    FilterModule,
    pmipv6_eui64_link_local,
    pmipv6_inventory_errors,
    pmipv6_mag_triggers,
    pmipv6_policy,
)

ALL = {
    "pmipv6_domain": "lab.pmipv6.example",
    "pmipv6_hnp_pool": "2001:db8:100::/48",
    "pmipv6_mobile_nodes": [{"name": "mn1", "mac": "02:00:00:00:01:01"}],
    "pmipv6_shared_addresses": True,
    "pmipv6_shared_link_local": "fe80::1",
    "pmipv6_shared_mac": "02:50:4d:49:50:36",
    "pmipv6_tunnels": "static",
    # ESP is on unless pmipv6_signaling_security is none; a fixed test secret.
    "pmipv6_signaling_secret": "unit-test-signaling-secret-0123456789abcdef",
}


def lab():
    """The emulated lab (inventories/emulated): one LMA, two MAGs, two APs, an MN, a CN."""
    hosts = {
        "lma": {"pmipv6_address": "2001:db8:ffff::1", "pmipv6_core_interface": "core0"},
        "mag1": {
            "pmipv6_address": "2001:db8:ffff::11",
            "pmipv6_core_interface": "core0",
            "pmipv6_access_interfaces": ["acc0"],
            "pmipv6_lma": "lma",
            "pmipv6_syslog_address": "fd00:a1::1",
        },
        "mag2": {
            "pmipv6_address": "2001:db8:ffff::12",
            "pmipv6_core_interface": "core0",
            "pmipv6_access_interfaces": ["acc0"],
            "pmipv6_lma": "lma",
            "pmipv6_syslog_address": "fd00:a2::1",
        },
        "ap1": {"pmipv6_mag": "mag1", "pmipv6_ap_address": "fd00:a1::2"},
        "ap2": {"pmipv6_mag": "mag2", "pmipv6_ap_address": "fd00:a2::2"},
        "mn1": {"pmipv6_mn_mac": "02:00:00:00:01:01"},
        "cn": {},
    }
    hostvars = {name: dict(copy.deepcopy(ALL), **own) for name, own in hosts.items()}
    groups = {
        "all": list(hosts),
        "ungrouped": [],
        "pmipv6_lma": ["lma"],
        "pmipv6_mag": ["mag1", "mag2"],
        "pmipv6_ap": ["ap1", "ap2"],
        "pmipv6_mn": ["mn1"],
        "pmipv6_cn": ["cn"],
    }
    return hostvars, groups


def set_all(hostvars, name, value):
    for host in hostvars.values():
        host[name] = copy.deepcopy(value)


def errors_of(hostvars, groups):
    return pmipv6_inventory_errors(hostvars, groups)


def test_the_lab_has_no_errors():
    assert errors_of(*lab()) == []


def test_policy_of_the_lab():
    assert pmipv6_policy(*lab()) == {
        "domain": "lab.pmipv6.example",
        "mags": [
            {"name": "mag1", "address": "2001:db8:ffff::11"},
            {"name": "mag2", "address": "2001:db8:ffff::12"},
        ],
        "lmas": [{"name": "lma", "address": "2001:db8:ffff::1", "accept_mags": ["mag1", "mag2"]}],
        "mobile_nodes": [
            {"id": "mn1@lab.pmipv6.example", "macs": ["02:00:00:00:01:01"], "lma": "lma"}
        ],
    }


def test_policy_canonical_forms_and_optional_fields():
    hostvars, groups = lab()
    hostvars["mag1"]["pmipv6_address"] = "2001:0DB8:FFFF:0:0:0:0:0011"
    set_all(
        hostvars,
        "pmipv6_mobile_nodes",
        [
            {"name": "mn1", "mac": "02-00-00-00-01-01"},
            {
                "name": "mn2",
                "macs": ["0200.0000.0202", "02:00:00:00:02:03"],
                "hnps": ["2001:db8:200:0001::/64"],
                "enabled": False,
                "mags": ["mag2"],
            },
        ],
    )
    policy = pmipv6_policy(hostvars, groups)
    assert policy["mags"][0] == {"name": "mag1", "address": "2001:db8:ffff::11"}
    assert policy["mobile_nodes"] == [
        {"id": "mn1@lab.pmipv6.example", "macs": ["02:00:00:00:01:01"], "lma": "lma"},
        {
            "id": "mn2@lab.pmipv6.example",
            "macs": ["02:00:00:00:02:02", "02:00:00:00:02:03"],
            "lma": "lma",
            "hnps": ["2001:db8:200:1::/64"],
            "enabled": False,
            "mags": ["mag2"],
        },
    ]


def test_two_lmas_each_with_its_mags_and_nodes():
    hostvars, groups = lab()
    hostvars["lma2"] = dict(
        copy.deepcopy(ALL),
        pmipv6_address="2001:db8:ffff::2",
        pmipv6_core_interface="eth1",
        pmipv6_hnp_pool="2001:db8:300::/48",
    )
    hostvars["mag2"]["pmipv6_lma"] = "lma2"
    groups["pmipv6_lma"].append("lma2")
    groups["all"].append("lma2")
    nodes = [
        {"name": "mn1", "mac": "02:00:00:00:01:01", "lma": "lma"},
        {"name": "mn2", "mac": "02:00:00:00:02:02", "lma": "lma2"},
    ]
    set_all(hostvars, "pmipv6_mobile_nodes", nodes)
    assert errors_of(hostvars, groups) == []
    policy = pmipv6_policy(hostvars, groups)
    assert policy["lmas"] == [
        {"name": "lma", "address": "2001:db8:ffff::1", "accept_mags": ["mag1"]},
        {"name": "lma2", "address": "2001:db8:ffff::2", "accept_mags": ["mag2"]},
    ]
    assert [n["lma"] for n in policy["mobile_nodes"]] == ["lma", "lma2"]


def test_policy_refuses_an_inventory_with_errors():
    hostvars, groups = lab()
    del hostvars["mag2"]["pmipv6_lma"]
    hostvars["ap2"]["pmipv6_mag"] = "lma"
    with pytest.raises(AnsibleFilterError) as info:
        pmipv6_policy(hostvars, groups)
    assert str(info.value).startswith(
        "the PMIPv6 inventory has 2 error(s):\n  mag2: pmipv6_lma: missing"
    )
    assert "ap2: pmipv6_mag: 'lma' is not a host in group pmipv6_mag" in str(info.value)


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {
        "pmipv6_eui64_link_local",
        "pmipv6_inventory_errors",
        "pmipv6_mag_triggers",
        "pmipv6_policy",
    }


# --------------------------------------------------------------------------- one mistake each


def mistake(change):
    hostvars, groups = lab()
    change(hostvars, groups)
    return errors_of(hostvars, groups)


def test_mag_without_lma():
    def change(hv, _g):
        del hv["mag1"]["pmipv6_lma"]

    assert mistake(change) == [
        "mag1: pmipv6_lma: missing: name the MAG's LMA (a host in pmipv6_lma)"
    ]


def test_mag_with_unknown_lma():
    def change(hv, _g):
        hv["mag2"]["pmipv6_lma"] = "mag1"

    assert mistake(change) == ["mag2: pmipv6_lma: 'mag1' is not a host in group pmipv6_lma"]


def test_ap_without_mag_and_ap_on_a_non_mag():
    def change(hv, _g):
        del hv["ap1"]["pmipv6_mag"]
        hv["ap2"]["pmipv6_mag"] = "cn"

    assert mistake(change) == [
        "ap1: pmipv6_mag: missing: name the MAG the AP is uplinked to (a host in pmipv6_mag)",
        "ap2: pmipv6_mag: 'cn' is not a host in group pmipv6_mag",
    ]


def test_ap_address_invalid():
    def change(hv, _g):
        hv["ap1"]["pmipv6_ap_address"] = "fd00:a1::zz"

    assert mistake(change) == ["ap1: pmipv6_ap_address: 'fd00:a1::zz' is not an IP address"]


def test_syslog_trust():
    def change(hv, _g):
        del hv["mag1"]["pmipv6_syslog_address"]
        hv["mag2"]["pmipv6_syslog_address"] = "::"
        hv["ap1"]["pmipv6_ap_mac"] = "01:00:5e:00:00:01"
        hv["ap2"]["pmipv6_ap_syslog_interface"] = "a very long name"

    assert mistake(change) == [
        "mag1: pmipv6_syslog_address: missing:"
        " the MAG's address its APs send syslog to is required",
        "mag2: pmipv6_syslog_address: :: is not one address of the MAG:"
        " give the address its APs send to",
        "ap1: pmipv6_ap_mac: 01:00:5e:00:00:01 is a multicast MAC address",
        "ap2: pmipv6_ap_syslog_interface: 'a very long name' is not an interface name",
    ]


def test_syslog_address_family_and_ap_address():
    def change(hv, _g):
        hv["mag1"]["pmipv6_syslog_address"] = "192.0.2.129"
        del hv["ap2"]["pmipv6_ap_address"]
        hv["ap2"]["pmipv6_ap_mac"] = "0019.a9f0.0002"  # Cisco's spelling is fine

    assert mistake(change) == [
        "ap1: pmipv6_ap_address: IPv6, but its MAG's pmipv6_syslog_address is IPv4",
        "ap2: pmipv6_ap_address: missing: the address the AP sends syslog from is required",
    ]


def test_syslog_ipv4_lab():
    def change(hv, _g):
        hv["mag1"]["pmipv6_syslog_address"] = "192.0.2.129"
        hv["ap1"]["pmipv6_ap_address"] = "192.0.2.130"
        hv["ap1"]["pmipv6_ap_syslog_interface"] = "eth2"

    assert mistake(change) == []


@pytest.mark.parametrize(
    "value, problem",
    [
        (None, "missing: the MAG's IPv6 address is required"),
        ("10.0.0.11", "'10.0.0.11' is not an IPv6 address"),
        ("2001:db8:ffff::11/64", "'2001:db8:ffff::11/64' is not an IPv6 address"),
        ("fe80::11", "fe80::11 is a link-local address; a routable unicast address is needed"),
        ("ff02::1", "ff02::1 is a multicast address; a routable unicast address is needed"),
        ("::", ":: is a unspecified address; a routable unicast address is needed"),
    ],
)
def test_mag_address(value, problem):
    def change(hv, _g):
        if value is None:
            del hv["mag1"]["pmipv6_address"]
        else:
            hv["mag1"]["pmipv6_address"] = value

    assert mistake(change) == [f"mag1: pmipv6_address: {problem}"]


def test_lma_address_missing():
    def change(hv, _g):
        hv["lma"]["pmipv6_address"] = ""

    assert mistake(change) == ["lma: pmipv6_address: missing: the LMA's IPv6 address is required"]


def test_duplicate_addresses():
    def change(hv, _g):
        hv["mag2"]["pmipv6_address"] = "2001:db8:ffff:0::1"

    assert mistake(change) == [
        "mag2: pmipv6_address: 2001:db8:ffff::1 is also the pmipv6_address of lma"
    ]


def test_mag_interfaces():
    def change(hv, _g):
        del hv["mag1"]["pmipv6_core_interface"]
        hv["mag2"]["pmipv6_access_interfaces"] = "acc0"

    assert mistake(change) == [
        "mag1: pmipv6_core_interface: missing: the interface towards the core is required",
        "mag2: pmipv6_access_interfaces: must be a list of interface names, not 'acc0'",
    ]


def test_mag_access_interfaces_missing_bad_repeated_or_core():
    def change(hv, _g):
        hv["mag1"]["pmipv6_access_interfaces"] = []
        hv["mag2"]["pmipv6_access_interfaces"] = ["acc0", "acc0", "a very long name", "core0"]

    assert mistake(change) == [
        "mag1: pmipv6_access_interfaces: missing: list the interfaces where access points "
        "and mobile nodes attach",
        "mag2: pmipv6_access_interfaces[1]: acc0 is listed twice",
        "mag2: pmipv6_access_interfaces[2]: 'a very long name' is not an interface name",
        "mag2: pmipv6_access_interfaces[3]: core0 is also the core interface",
    ]


def test_shared_addresses_and_tunnels():
    def change(hv, _g):
        hv["mag1"]["pmipv6_shared_mac"] = "01:00:5e:00:00:01"
        hv["mag1"]["pmipv6_shared_link_local"] = "2001:db8::1"
        hv["mag2"]["pmipv6_tunnels"] = "gre"

    assert mistake(change) == [
        "mag1: pmipv6_shared_mac: 01:00:5e:00:00:01 is a multicast MAC address",
        "mag1: pmipv6_shared_link_local: 2001:db8::1 is not a link-local (fe80::/10) address",
        "mag2: pmipv6_tunnels: 'gre' is not static or dynamic",
    ]


def test_no_lma_and_host_in_both_groups():
    def change(_hv, g):
        g["pmipv6_lma"] = []

    errors = mistake(change)
    assert errors[0] == "(inventory): groups: no host in group pmipv6_lma: a domain needs an LMA"
    assert "mag1: pmipv6_lma: 'lma' is not a host in group pmipv6_lma" in errors

    def both(_hv, g):
        g["pmipv6_mag"].append("lma")

    errors = mistake(both)
    assert errors[0] == "lma: groups: is in both pmipv6_lma and pmipv6_mag"


def test_bad_host_name():
    def change(hv, g):
        hv["mag 3"] = copy.deepcopy(hv["mag2"])
        hv["mag 3"]["pmipv6_address"] = "2001:db8:ffff::13"
        g["pmipv6_mag"].append("mag 3")

    assert mistake(change) == [
        "mag 3: inventory_hostname: cannot be a policy name "
        "(letters, digits, '_', '.', '-'; at most 64)"
    ]


# --------------------------------------------------------------------------- prefixes


def test_pool_invalid_or_too_long():
    def bad(hv, _g):
        hv["lma"]["pmipv6_hnp_pool"] = "2001:db8:100::1/48"

    assert mistake(bad)[0].startswith(
        "lma: pmipv6_hnp_pool: '2001:db8:100::1/48' is not an IPv6 prefix ("
    )

    def long(hv, _g):
        hv["lma"]["pmipv6_hnp_pool"] = "2001:db8:100::/80"

    assert mistake(long) == [
        "lma: pmipv6_hnp_pool: 2001:db8:100::/80 is longer than the /64 home network prefixes "
        "it hands out"
    ]


def test_fixed_hnp_inside_the_pool():
    def change(hv, _g):
        set_all(
            hv,
            "pmipv6_mobile_nodes",
            [{"name": "mn1", "mac": "02:00:00:00:01:01", "hnps": ["2001:db8:100:5::/64"]}],
        )

    assert mistake(change) == [
        "lma: pmipv6_mobile_nodes[0].hnps[0]: 2001:db8:100:5::/64 overlaps pmipv6_hnp_pool of "
        "lma (2001:db8:100::/48)"
    ]


def test_fixed_hnps_overlap_each_other():
    def change(hv, _g):
        set_all(
            hv,
            "pmipv6_mobile_nodes",
            [
                {"name": "mn1", "mac": "02:00:00:00:01:01", "hnps": ["2001:db8:200::/56"]},
                {"name": "mn2", "mac": "02:00:00:00:02:02", "hnps": ["2001:db8:200:10::/64"]},
            ],
        )

    assert mistake(change) == [
        "lma: pmipv6_mobile_nodes[1].hnps[0]: 2001:db8:200:10::/64 overlaps "
        "pmipv6_mobile_nodes[0].hnps[0] of lma (2001:db8:200::/56)"
    ]


def test_pools_of_two_lmas_overlap():
    def change(hv, g):
        hv["lma2"] = dict(
            copy.deepcopy(ALL),
            pmipv6_address="2001:db8:ffff::2",
            pmipv6_core_interface="core0",
            pmipv6_hnp_pool="2001:db8:100:8000::/49",
        )
        g["pmipv6_lma"].append("lma2")
        set_all(
            hv, "pmipv6_mobile_nodes", [{"name": "mn1", "mac": "02:00:00:00:01:01", "lma": "lma"}]
        )

    assert mistake(change) == [
        "lma2: pmipv6_hnp_pool: 2001:db8:100:8000::/49 overlaps pmipv6_hnp_pool of lma "
        "(2001:db8:100::/48)"
    ]


def test_node_without_prefix_source():
    def change(hv, _g):
        del hv["lma"]["pmipv6_hnp_pool"]

    assert mistake(change) == [
        "lma: pmipv6_mobile_nodes[0]: has no hnps and its LMA lma has no pmipv6_hnp_pool to take "
        "one from"
    ]


# --------------------------------------------------------------------------- mobile nodes


def nodes_errors(nodes):
    def change(hv, _g):
        set_all(hv, "pmipv6_mobile_nodes", nodes)

    return mistake(change)


def test_mn_mac_invalid_unquoted_multicast_missing():
    assert nodes_errors(
        [
            {"name": "mn1", "mac": "02:00:00:00:01"},
            {"name": "mn2", "mac": 4000000},
            {"name": "mn3", "mac": "03:00:00:00:00:03"},
            {"name": "mn4"},
        ]
    ) == [
        "lma: pmipv6_mobile_nodes[0].mac: '02:00:00:00:01' is not a MAC address",
        "lma: pmipv6_mobile_nodes[1].mac: 4000000 is not a MAC address: quote MAC addresses, "
        "YAML read this one as a number",
        "lma: pmipv6_mobile_nodes[2].mac: 03:00:00:00:00:03 is a multicast MAC address",
        "lma: pmipv6_mobile_nodes[3].mac: missing: the mobile node's MAC address",
    ]


def test_mn_mac_duplicated():
    assert nodes_errors(
        [
            {"name": "mn1", "mac": "02:00:00:00:01:01"},
            {"name": "mn2", "macs": ["02:00:00:00:02:02", "0200.0000.0101"]},
        ]
    ) == [
        "lma: pmipv6_mobile_nodes[1].macs[1]: 02:00:00:00:01:01 is also pmipv6_mobile_nodes[0].mac"
    ]


def test_mn_names_and_keys():
    assert nodes_errors(
        [
            {"name": "mn1", "mac": "02:00:00:00:01:01"},
            {"name": "mn1", "mac": "02:00:00:00:02:02"},
            {"name": "mn3@x", "mac": "02:00:00:00:03:03"},
            {"name": "mn4", "mac": "02:00:00:00:04:04", "hnp": "2001:db8:9::/64"},
            "mn5",
            {"name": "mn6", "mac": "02:00:00:00:06:06", "macs": ["02:00:00:00:06:07"]},
        ]
    ) == [
        "lma: pmipv6_mobile_nodes[1].name: mn1 is also pmipv6_mobile_nodes[0]",
        "lma: pmipv6_mobile_nodes[2].name: 'mn3@x' is not a mobile node name",
        "lma: pmipv6_mobile_nodes[3]: unknown keys: hnp",
        "lma: pmipv6_mobile_nodes[4]: must be a mapping {name, mac, hnps}",
        "lma: pmipv6_mobile_nodes[5]: give mac or macs, not both",
    ]


def test_mn_hnps_lma_enabled_mags():
    assert nodes_errors(
        [
            {"name": "mn1", "mac": "02:00:00:00:01:01", "hnps": "2001:db8:9::/64"},
            {"name": "mn2", "mac": "02:00:00:00:02:02", "hnps": ["2001:db8:9::1/64"]},
            {"name": "mn3", "mac": "02:00:00:00:03:03", "lma": "mag1"},
            {"name": "mn4", "mac": "02:00:00:00:04:04", "enabled": "yes", "mags": ["ap1"]},
        ]
    ) == [
        "lma: pmipv6_mobile_nodes[0].hnps: must be a list of IPv6 prefixes",
        "lma: pmipv6_mobile_nodes[1].hnps[0]: '2001:db8:9::1/64' is not an IPv6 prefix "
        "(2001:db8:9::1/64 has host bits set)",
        "lma: pmipv6_mobile_nodes[2].lma: 'mag1' is not a host in group pmipv6_lma",
        "lma: pmipv6_mobile_nodes[3].enabled: must be true or false, not 'yes'",
        "lma: pmipv6_mobile_nodes[3].mags[0]: 'ap1' is not a host in group pmipv6_mag",
    ]


def test_mn_without_lma_when_there_are_two():
    def change(hv, g):
        hv["lma2"] = dict(
            copy.deepcopy(ALL),
            pmipv6_address="2001:db8:ffff::2",
            pmipv6_core_interface="core0",
            pmipv6_hnp_pool="2001:db8:300::/48",
        )
        g["pmipv6_lma"].append("lma2")

    assert mistake(change) == [
        "lma: pmipv6_mobile_nodes[0].lma: missing: there are 2 LMAs, name this node's"
    ]


def test_domain_wide_variables():
    def missing(hv, _g):
        for host in hv.values():
            del host["pmipv6_domain"]

    assert mistake(missing) == [
        "lma: pmipv6_domain: missing: the realm of the mobile node identifiers"
    ]

    def differs(hv, _g):
        hv["mag2"]["pmipv6_mobile_nodes"] = []
        hv["mag1"]["pmipv6_domain"] = "other.example"

    assert mistake(differs) == [
        "mag1: pmipv6_domain: differs from the value lma has: define it once for all hosts "
        "(group_vars/all)",
        "mag2: pmipv6_mobile_nodes: differs from the value lma has: define it once for all "
        "hosts (group_vars/all)",
    ]

    def not_a_list(hv, _g):
        set_all(hv, "pmipv6_mobile_nodes", {"mn1": "02:00:00:00:01:01"})

    assert mistake(not_a_list) == ["lma: pmipv6_mobile_nodes: must be a list of {name, mac, hnps}"]


# --------------------------------------------------------------------------- real hostvars


INVENTORY = """
all:
  vars:
    pmipv6_domain: lab.pmipv6.example
    pmipv6_hnp_pool: "2001:db8:100::/48"
    pmipv6_signaling_secret: "{{ vault_secret }}"
    vault_secret: unit-test-signaling-secret-0123456789abcdef
    pmipv6_mobile_nodes:
      - name: mn1
        mac: "02:00:00:00:01:01"
      - name: mn2
        mac: 12:00:00:00:02:02
  children:
    pmipv6_lma:
      hosts:
        lma:
          pmipv6_address: "2001:db8:ffff::1"
          pmipv6_core_interface: core0
    pmipv6_mag:
      hosts:
        mag1:
          pmipv6_address: "{{ '2001:db8:ffff::' ~ 11 }}"
          pmipv6_core_interface: core0
          pmipv6_access_interfaces: [acc0]
          pmipv6_lma: lma
          pmipv6_syslog_address: "fd00:a1::1"
        mag2:
          pmipv6_address: "{{ undefined_variable_here }}"
          pmipv6_core_interface: core0
          pmipv6_access_interfaces: [acc0]
          pmipv6_lma: lma
    pmipv6_ap:
      hosts:
        ap1:
          pmipv6_mag: mag1
          pmipv6_ap_address: "fd00:a1::2"
"""


def test_with_ansible_hostvars(tmp_path):
    """Through Ansible's HostVars: templated values, tagged strings, undefined variables."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.hostvars import HostVars
    from ansible.vars.manager import VariableManager

    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(path)])
    variables = VariableManager(loader=loader, inventory=inventory)
    hostvars = HostVars(inventory=inventory, variable_manager=variables, loader=loader)
    groups = variables.get_vars(host=inventory.get_host("lma"))["groups"]

    errors = pmipv6_inventory_errors(hostvars, groups)
    assert len(errors) == 2, errors
    assert errors[0].startswith("mag2: pmipv6_address: cannot be read: ")
    assert "undefined_variable_here" in errors[0]
    # YAML 1.1 reads an unquoted 12:00:00:00:02:02 as a base-60 number
    assert errors[1] == (
        "lma: pmipv6_mobile_nodes[1].mac: 9331200122 is not a MAC address: quote MAC "
        "addresses, YAML read this one as a number"
    )

    path.write_text(
        INVENTORY.replace("{{ undefined_variable_here }}", "2001:db8:ffff::12").replace(
            "mac: 12:00:00:00:02:02", 'mac: "12:00:00:00:02:02"'
        )
    )
    inventory = InventoryManager(loader=loader, sources=[str(path)])
    variables = VariableManager(loader=loader, inventory=inventory)
    hostvars = HostVars(inventory=inventory, variable_manager=variables, loader=loader)
    policy = pmipv6_policy(hostvars, groups)
    assert policy["mags"] == [
        {"name": "mag1", "address": "2001:db8:ffff::11"},
        {"name": "mag2", "address": "2001:db8:ffff::12"},
    ]
    assert [n["id"] for n in policy["mobile_nodes"]] == [
        "mn1@lab.pmipv6.example",
        "mn2@lab.pmipv6.example",
    ]
    # Plain types, not Ansible's tagged ones: a strict dumper can write the file.
    assert yaml.safe_load(yaml.safe_dump(policy)) == policy


def test_eui64_link_local():
    assert pmipv6_eui64_link_local("02:4d:41:47:01:01") == "fe80::4d:41ff:fe47:101"
    assert pmipv6_eui64_link_local("0011.2233.4455") == "fe80::211:22ff:fe33:4455"


# --------------------------------------------------------------------------- hostapd APs

HOSTAPD = {
    "pmipv6_ap_kind": "hostapd",
    "pmipv6_ap_ssid": "pmipv6-lab",
    "pmipv6_ap_wpa_passphrase": "correct horse battery",
}


def hostapd_lab():
    """mag1 is its own hostapd AP (control socket); ap2 a Linux AP sending mag2 syslog."""
    hostvars, groups = lab()
    hostvars["mag1"].update(HOSTAPD, pmipv6_mag="mag1", pmipv6_ap_bridge="acc0")
    del hostvars["mag1"]["pmipv6_syslog_address"]
    groups["pmipv6_ap"] = ["mag1", "ap2"]
    del hostvars["ap1"]
    groups["all"].remove("ap1")
    hostvars["ap2"].update(HOSTAPD, pmipv6_ap_radio="wlan1")
    return hostvars, groups


def test_hostapd_aps_need_no_syslog_where_the_mag_reads_the_socket():
    hostvars, groups = hostapd_lab()
    assert errors_of(hostvars, groups) == []
    mag1 = pmipv6_mag_triggers(hostvars, groups, "mag1")
    assert mag1 == {
        "syslog_aps": {},
        "syslog_ap_hosts": [],
        "hostapd": [
            {
                "type": "hostapd",
                "name": "mag1",
                "control": "/run/hostapd/wlan0",
                "interface": "acc0",
                "connect_hint": "reassociation",
                "local_dir": "/run/pmip6d",
            }
        ],
    }
    mag2 = pmipv6_mag_triggers(hostvars, groups, "mag2")
    assert mag2 == {
        "syslog_aps": {
            "fd00:a2::2": {"name": "ap2", "interface": "acc0", "connect_hint": "reassociation"}
        },
        "syslog_ap_hosts": ["ap2"],
        "hostapd": [],
    }


def test_cisco_and_emulated_aps_keep_their_syslog_entry():
    hostvars, groups = lab()
    hostvars["ap1"]["ansible_network_os"] = "cisco.ios.ios"
    assert pmipv6_mag_triggers(hostvars, groups, "mag1") == {
        "syslog_aps": {"fd00:a1::2": {"name": "ap1", "interface": "acc0"}},
        "syslog_ap_hosts": ["ap1"],
        "hostapd": [],
    }


@pytest.mark.parametrize(
    "host, changes, problem",
    [
        (
            "ap2",
            {"pmipv6_ap_kind": "aruba"},
            "ap2: pmipv6_ap_kind: 'aruba' is not an AP kind"
            " the access_point role knows (cisco, emulated, hostapd)",
        ),
        (
            "ap2",
            {"pmipv6_ap_events": "control_socket"},
            "ap2: pmipv6_ap_events: control_socket"
            " needs hostapd on the MAG itself ('mag2' is another host)",
        ),
        (
            "ap2",
            {"pmipv6_ap_events": "snmp"},
            "ap2: pmipv6_ap_events: 'snmp' is not control_socket or syslog",
        ),
        ("ap2", {"pmipv6_ap_ssid": ""}, "ap2: pmipv6_ap_ssid: missing"),
        ("ap2", {"pmipv6_ap_ssid": "x" * 33}, "ap2: pmipv6_ap_ssid: must be 1 to 32 bytes"),
        ("ap2", {"pmipv6_ap_channel": 0}, "ap2: pmipv6_ap_channel: 0 is not a channel number"),
        ("ap2", {"pmipv6_ap_radio": "wl an0"}, "ap2: pmipv6_ap_radio: 'wl an0' is not an"),
        ("ap2", {"pmipv6_ap_connect_hint": "roam"}, "ap2: pmipv6_ap_connect_hint: 'roam' is not"),
        (
            "ap2",
            {"pmipv6_ap_wpa_passphrase": "short"},
            "ap2: pmipv6_ap_wpa_passphrase: must be 8 to 63 characters",
        ),
        ("ap2", {"pmipv6_ap_wpa_passphrase": None}, "ap2: pmipv6_ap_wpa_passphrase: missing"),
        ("ap2", {"pmipv6_ap_security": "wep"}, "ap2: pmipv6_ap_security: 'wep' is not"),
        (
            "ap2",
            {"pmipv6_ap_address": None},
            "ap2: pmipv6_ap_address: missing: the address the AP sends syslog from is required",
        ),
        ("mag2", {"pmipv6_syslog_address": None}, "mag2: pmipv6_syslog_address: missing"),
    ],
)
def test_hostapd_ap_mistakes(host, changes, problem):
    hostvars, groups = hostapd_lab()
    for name, value in changes.items():
        if value is None:
            hostvars[host].pop(name, None)
        else:
            hostvars[host][name] = value
    found = errors_of(hostvars, groups)
    assert len(found) == 1 and found[0].startswith(problem), found


def test_an_open_hostapd_ap_needs_no_passphrase_and_the_secret_is_never_printed():
    hostvars, groups = hostapd_lab()
    hostvars["ap2"]["pmipv6_ap_security"] = "open"
    del hostvars["ap2"]["pmipv6_ap_wpa_passphrase"]
    assert errors_of(hostvars, groups) == []
    hostvars["ap2"]["pmipv6_ap_security"] = "wpa2-psk"
    hostvars["ap2"]["pmipv6_ap_wpa_passphrase"] = "sh0rt\x01"
    assert "sh0rt" not in " ".join(errors_of(hostvars, groups))
