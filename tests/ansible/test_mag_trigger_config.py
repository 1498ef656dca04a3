"""The mag role's files for a Linux-AP site (inventories/lab_linux_ap): triggers and allowlist.

MAG1 is its own hostapd AP: its agent reads hostapd's control socket, so it gets a
``hostapd`` trigger and no syslog listener (nor nftables rules for one). MAG2's AP is a
separate Linux AP whose forwarder sends hostapd's event lines: MAG2 gets the syslog
listener with AP2 as its one trusted source and AP2's connect hint, and the rules that
let only AP2 reach it. The files are rendered from the role's own templates with the
inventory's real host variables, and the agent validates them (``pmip6d mag --check``).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml
from pmipv6_test_helpers import BIN, ROOT, playbook

RENDER = """
- name: Render the mag role's files as the role would
  hosts: pmipv6_mag
  connection: local
  gather_facts: false
  vars_files:
    - {root}/roles/mag/defaults/main.yml
  vars:
    mag_config_dir: {out}
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: Policy
      ansible.builtin.copy:
        content: "{{{{ hostvars | netlmm.pmipv6.pmipv6_policy(groups) | to_nice_yaml }}}}"
        dest: "{out}/policy.yml"
        mode: "0644"
      run_once: true
    - name: Agent configuration
      ansible.builtin.template:
        src: {root}/roles/mag/templates/mag.yml.j2
        dest: "{out}/{{{{ inventory_hostname }}}}.yml"
        mode: "0600"
    - name: Syslog allowlist, where the MAG has syslog APs
      ansible.builtin.template:
        src: {root}/roles/mag/templates/syslog-filter.nft.j2
        dest: "{out}/{{{{ inventory_hostname }}}}.nft"
        mode: "0644"
      when: __sources.syslog_aps | length > 0
      vars:
        __sources: >-
          {{{{ hostvars | netlmm.pmipv6.pmipv6_mag_triggers(groups, inventory_hostname) }}}}
"""

SECRETS = [
    "-e",
    "vault_pmipv6_signaling_secret=operator-vault-secret-0123456789abcdef",
    "-e",
    "vault_pmipv6_ap_wpa_passphrase=operator-wifi-passphrase",
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("mag-files")
    book = out / "render.yml"
    book.write_text(RENDER.format(root=ROOT, out=out))
    rc, text, _seconds = playbook(str(book), "-i", "inventories/lab_linux_ap", *SECRETS)
    assert rc == 0, text[-3000:]
    return out


def triggers(out, mag):
    return yaml.safe_load((out / f"{mag}.yml").read_text())["triggers"]


def test_the_mag_that_is_its_own_ap_reads_hostapds_socket(rendered):
    assert triggers(rendered, "mag1") == [
        {
            "type": "hostapd",
            "name": "mag1",
            "control": "/run/hostapd/wlan0",
            "interface": "br0",
            "connect_hint": "reassociation",
            "local_dir": "/run/pmip6d",
        }
    ]
    assert not (rendered / "mag1.nft").exists()


def test_the_mag_with_a_linux_ap_trusts_its_syslog_only(rendered):
    (listener,) = triggers(rendered, "mag2")
    assert listener["type"] == "cisco-syslog"
    assert listener["listen"] == "2001:db8:a2::1"
    assert listener["aps"] == {
        "2001:db8:a2::2": {"name": "ap2", "interface": "eth2", "connect_hint": "reassociation"}
    }
    rules = (rendered / "mag2.nft").read_text()
    assert 'iifname "eth2" ip6 saddr 2001:db8:a2::2 counter name "syslog_from_aps" accept' in rules
    assert rules.count("accept comment") == 1
    if os.geteuid() == 0 and shutil.which("nft"):
        check = subprocess.run(
            ["nft", "-c", "-f", str(rendered / "mag2.nft")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("mag", ["mag1", "mag2"])
def test_the_agent_accepts_the_configuration(rendered, mag):
    config = rendered / f"{mag}.yml"
    text = config.read_text().replace("/etc/pmip6d/policy.yml", str(rendered / "policy.yml"))
    config.write_text(text)
    result = subprocess.run(
        [str(BIN / "pmip6d"), "mag", "--check", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{config}: OK (mag" in result.stdout
