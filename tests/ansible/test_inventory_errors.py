"""Inventory mistakes stop site.yml in its first seconds, naming the host and the variable.

Each case breaks a scratch copy of the emulated inventory; site.yml must fail in
its first play (before any container or host is touched).
"""

from __future__ import annotations

import re

import pytest
import yaml
from pmipv6_test_helpers import playbook


def edit_hosts(inventory, change) -> None:
    path = inventory / "hosts.yml"
    doc = yaml.safe_load(path.read_text())
    change(doc["all"]["children"])
    path.write_text(yaml.safe_dump(doc))


def edit_domain(inventory, change) -> None:
    path = inventory / "group_vars" / "all" / "pmipv6.yml"
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc))


CASES = {
    "mag-without-lma": (
        lambda inv: edit_hosts(inv, lambda g: g["pmipv6_mag"]["hosts"]["mag2"].pop("pmipv6_lma")),
        r"mag2: pmipv6_lma",
    ),
    "mag-with-unknown-lma": (
        lambda inv: edit_hosts(
            inv, lambda g: g["pmipv6_mag"]["hosts"]["mag1"].update(pmipv6_lma="lmx")
        ),
        r"mag1: pmipv6_lma",
    ),
    "ap-without-mag": (
        lambda inv: edit_hosts(inv, lambda g: g["pmipv6_ap"]["hosts"]["ap2"].pop("pmipv6_mag")),
        r"ap2: pmipv6_mag",
    ),
    "ap-kind-unknown": (
        lambda inv: edit_hosts(
            inv, lambda g: g["pmipv6_ap"]["hosts"]["ap2"].update(pmipv6_ap_kind="aruba")
        ),
        r"ap2: pmipv6_ap_kind: 'aruba' is not an AP kind the access_point role knows",
    ),
    "missing-address": (
        lambda inv: edit_hosts(
            inv, lambda g: g["pmipv6_mag"]["hosts"]["mag1"].pop("pmipv6_address")
        ),
        r"mag1: pmipv6_address",
    ),
    "bad-address": (
        lambda inv: edit_hosts(
            inv, lambda g: g["pmipv6_lma"]["hosts"]["lma"].update(pmipv6_address="2001:db8::zz")
        ),
        r"lma: pmipv6_address",
    ),
    "overlapping-prefixes": (
        lambda inv: edit_domain(
            inv, lambda d: d["pmipv6_mobile_nodes"][0].update(hnps=["2001:db8:100:7::/64"])
        ),
        r"pmipv6_(hnp_pool|mobile_nodes).*overlap|overlap.*pmipv6_(hnp_pool|mobile_nodes)",
    ),
    "short-signaling-secret": (
        lambda inv: edit_domain(inv, lambda d: d.update(pmipv6_signaling_secret="too-short")),
        r"lma: pmipv6_signaling_secret: too short",
    ),
    "duplicate-mac": (
        lambda inv: edit_domain(
            inv,
            lambda d: d["pmipv6_mobile_nodes"].append(
                {"name": "mn9", "mac": d["pmipv6_mobile_nodes"][0]["mac"]}
            ),
        ),
        r"pmipv6_mobile_nodes.*(duplicate|also|twice)|(duplicate|twice).*pmipv6_mobile_nodes",
    ),
    "wildcard-syslog-address": (
        lambda inv: edit_hosts(
            inv, lambda g: g["pmipv6_mag"]["hosts"]["mag1"].update(pmipv6_syslog_address="::")
        ),
        r"mag1: pmipv6_syslog_address: :: is not one address of the MAG",
    ),
    "ap-mac-invalid": (
        lambda inv: edit_hosts(
            inv, lambda g: g["pmipv6_ap"]["hosts"]["ap2"].update(pmipv6_ap_mac="02:00:00:00:a2")
        ),
        r"ap2: pmipv6_ap_mac: '02:00:00:00:a2' is not a MAC address",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_inventory_mistake_fails_first(emulated_copy, case):
    breaker, pattern = CASES[case]
    breaker(emulated_copy)
    rc, out, seconds = playbook("site.yml", "-i", str(emulated_copy), timeout=120)
    assert rc != 0, out[-3000:]
    assert seconds < 30, f"took {seconds:.1f} s to fail"
    assert "Check the inventory before touching any host" in out
    # It failed in that first play: no later play started.
    assert "PLAY [Build the emulated testbed" not in out and "PLAY [Deploy" not in out, out[-3000:]
    assert re.search(pattern, out), out[-3000:]


def test_the_shipped_inventories_pass(tmp_path):
    # The physical lab's ESP secret is in the Ansible Vault file the operator creates
    # (inventories/lab/group_vars/all/vault.yml): given here as that file's variable.
    vault = ["-e", "vault_pmipv6_signaling_secret=operator-vault-secret-0123456789abcdef"]
    # The Linux-AP lab's WPA2 passphrase is in its Vault file too.
    wifi = [*vault, "-e", "vault_pmipv6_ap_wpa_passphrase=operator-wifi-passphrase"]
    for inventory, extra in (
        ("inventories/emulated", []),
        ("lab", vault),
        ("inventories/lab_linux_ap", wifi),
    ):
        rc, out, _seconds = playbook(
            "playbooks/preflight.yml", "-i", inventory, *extra, timeout=120
        )
        assert rc == 0, out[-3000:]


def test_the_linux_ap_lab_without_its_passphrase_fails_naming_it():
    vault = ["-e", "vault_pmipv6_signaling_secret=operator-vault-secret-0123456789abcdef"]
    rc, out, _seconds = playbook(
        "playbooks/preflight.yml", "-i", "inventories/lab_linux_ap", *vault, timeout=120
    )
    assert rc != 0, out[-3000:]
    assert "mag1: pmipv6_ap_wpa_passphrase: missing" in out, out[-3000:]
    assert "ap2: pmipv6_ap_wpa_passphrase: missing" in out, out[-3000:]


def test_the_lab_without_its_vault_file_fails_naming_the_secret():
    rc, out, _seconds = playbook("playbooks/preflight.yml", "-i", "lab", timeout=120)
    assert rc != 0, out[-3000:]
    assert "lma, mag1, mag2: pmipv6_signaling_secret: missing" in out, out[-3000:]
