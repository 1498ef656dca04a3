# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Contract: the policy file pmipv6_policy makes is one the agent's own loader accepts.

The roles write ``hostvars | pmipv6_policy(groups) | to_nice_yaml`` to
``/etc/pmip6d/policy.yml``; the agents read it with ``pmip6d.policy.Policy``.
Each inventory here goes the same way, through the agent package of this
checkout (``files/pmip6d/src``), so a rule changed on one side only fails here.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
from ansible.plugins.filter.core import to_nice_yaml
from ansible_collections.netlmm.pmipv6.plugins.filter.pmipv6 import pmipv6_policy

ROOT = Path(__file__).absolute().parents[4]
AGENT_SRC = ROOT / "files" / "pmip6d" / "src"
sys.path.insert(0, str(AGENT_SRC))

from pmip6d.policy import Policy  # noqa: E402  (this checkout's agent, put first above)


def test_the_agent_is_this_checkouts():
    import pmip6d

    assert Path(pmip6d.__file__).resolve().is_relative_to(AGENT_SRC.resolve())


def load_as_the_agent(policy: dict, tmp_path: Path) -> Policy:
    path = tmp_path / "policy.yml"
    path.write_text(to_nice_yaml(policy, indent=2))
    loaded = Policy.load(path)
    for lma in loaded.lma_entries:
        loaded.lma_view(lma)
    for mag in loaded.mag_address:
        loaded.mag_view(mag)
    return loaded


def host(**own):
    return own


DOMAIN = {
    "pmipv6_domain": "lab.pmipv6.example",
    "pmipv6_hnp_pool": "2001:db8:100::/48",
    "pmipv6_shared_addresses": True,
    "pmipv6_shared_link_local": "fe80::1",
    "pmipv6_shared_mac": "02:50:4d:49:50:36",
    "pmipv6_tunnels": "static",
    "pmipv6_signaling_secret": "unit-test-signaling-secret-0123456789abcdef",
}
CORE = {"pmipv6_core_interface": "core0"}
ACCESS = {"pmipv6_access_interfaces": ["acc0"]}


def inventory(hosts, groups, mobile_nodes, **domain):
    common = dict(DOMAIN, pmipv6_mobile_nodes=mobile_nodes, **domain)
    hostvars = {name: dict(copy.deepcopy(common), **own) for name, own in hosts.items()}
    return hostvars, {"all": list(hosts), **groups}


def emulated_like():
    return inventory(
        {
            "lma": host(pmipv6_address="2001:db8:ffff::1", **CORE),
            "mag1": host(
                pmipv6_address="2001:db8:ffff::11",
                pmipv6_lma="lma",
                pmipv6_syslog_address="fd00:a1::1",
                **CORE,
                **ACCESS,
            ),
            "mag2": host(pmipv6_address="2001:db8:ffff::12", pmipv6_lma="lma", **CORE, **ACCESS),
            "ap1": host(pmipv6_mag="mag1", pmipv6_ap_address="fd00:a1::2"),
        },
        {"pmipv6_lma": ["lma"], "pmipv6_mag": ["mag1", "mag2"], "pmipv6_ap": ["ap1"]},
        [{"name": "mn1", "mac": "02:00:00:00:01:01"}],
    )


def every_field():
    """Spellings the filter canonicalises, fixed prefixes, disabled nodes, MAG limits."""
    return inventory(
        {
            "lma": host(pmipv6_address="2001:0DB8:FFFF::0001", **CORE),
            "mag1": host(pmipv6_address="2001:db8:ffff:0::11", pmipv6_lma="lma", **CORE, **ACCESS),
            "mag2": host(pmipv6_address="2001:db8:ffff::12", pmipv6_lma="lma", **CORE, **ACCESS),
        },
        {"pmipv6_lma": ["lma"], "pmipv6_mag": ["mag1", "mag2"]},
        [
            {"name": "mn1", "mac": "02-00-00-00-01-01"},
            {
                "name": "mn2",
                "macs": ["0200.0000.0202", "02:00:00:00:02:03"],
                "hnps": ["2001:db8:200:0001::/64", "2001:db8:200:2::/64"],
                "enabled": False,
                "mags": ["mag2"],
            },
            {"name": "mn3", "mac": "0A:1B:2C:3D:4E:5F", "lma": "lma"},
        ],
    )


def two_lmas():
    hostvars, groups = inventory(
        {
            "lma": host(pmipv6_address="2001:db8:ffff::1", **CORE),
            "lma2": host(pmipv6_address="2001:db8:fffe::1", **CORE),
            "mag1": host(pmipv6_address="2001:db8:ffff::11", pmipv6_lma="lma", **CORE, **ACCESS),
            "mag2": host(pmipv6_address="2001:db8:fffe::12", pmipv6_lma="lma2", **CORE, **ACCESS),
        },
        {"pmipv6_lma": ["lma", "lma2"], "pmipv6_mag": ["mag1", "mag2"]},
        [
            {"name": "mn1", "mac": "02:00:00:00:01:01", "lma": "lma"},
            {"name": "mn2", "mac": "02:00:00:00:02:02", "lma": "lma2"},
            {"name": "mn3", "mac": "02:00:00:00:03:03", "lma": "lma2", "hnps": ["2001:db8:3::/64"]},
        ],
    )
    hostvars["lma2"]["pmipv6_hnp_pool"] = "2001:db8:400::/48"
    return hostvars, groups


@pytest.mark.parametrize("make", [emulated_like, every_field, two_lmas])
def test_generated_policy_loads_with_the_agents_loader(make, tmp_path):
    policy = pmipv6_policy(*make())
    loaded = load_as_the_agent(policy, tmp_path)
    assert sorted(p.mn_id.decode() for p in loaded.profiles.values()) == sorted(
        n["id"] for n in policy["mobile_nodes"]
    )
    assert loaded.mag_address == {m["name"]: m["address"] for m in policy["mags"]}
    for node in policy["mobile_nodes"]:
        profile = loaded.profiles[node["id"].encode()]
        assert [":".join(f"{b:02x}" for b in mac) for mac in profile.macs] == node["macs"]
        assert [str(p) for p in profile.hnps] == node.get("hnps", [])
        assert profile.enabled == node.get("enabled", True)


def shipped_inventory(name, **extra):
    """An inventory of this repository as the roles see it: Ansible's HostVars, templated.

    ``extra``: host variables (over group_vars), e.g. what the lab's Ansible Vault
    file would hold.
    """
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.hostvars import HostVars
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(ROOT / "inventories" / name)])
    for host in inventory.get_hosts():
        for key, value in extra.items():
            host.set_variable(key, value)
    variables = VariableManager(loader=loader, inventory=inventory)
    hostvars = HostVars(inventory=inventory, variable_manager=variables, loader=loader)
    groups = variables.get_vars(host=inventory.get_host("lma"))["groups"]
    return hostvars, groups


# The lab's secret comes from a vault file the operator creates; the emulated lab's is
# generated by a password lookup, which needs a real Ansible run (test_signaling_filter).
SHIPPED = {
    "emulated": {"pmipv6_signaling_secret": "generated-lab-secret-0123456789abcdef"},
    "lab": {"vault_pmipv6_signaling_secret": "operator-vault-secret-0123456789abcdef"},
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_the_shipped_inventories_make_a_policy_the_agent_loads(name, tmp_path):
    policy = pmipv6_policy(*shipped_inventory(name, **SHIPPED[name]))
    loaded = load_as_the_agent(policy, tmp_path)
    assert policy["mobile_nodes"], "the inventory lists mobile nodes"
    assert len(loaded.profiles) == len(policy["mobile_nodes"])
    assert set(loaded.mag_address) == set(dict(shipped_inventory(name)[1])["pmipv6_mag"])


def test_the_lab_inventory_without_its_vault_file_names_the_secret():
    from ansible_collections.netlmm.pmipv6.plugins.filter.pmipv6 import pmipv6_inventory_errors

    errors = pmipv6_inventory_errors(*shipped_inventory("lab"))
    assert len(errors) == 1, errors
    assert errors[0].startswith("lma, mag1, mag2: pmipv6_signaling_secret: missing: ")
