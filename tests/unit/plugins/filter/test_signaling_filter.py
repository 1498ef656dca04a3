# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pmipv6_signaling_sas (per-pair ESP SAs from one domain secret) and its inventory checks."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.netlmm.pmipv6.plugins.filter.pmipv6 import pmipv6_inventory_errors
from ansible_collections.netlmm.pmipv6.plugins.filter.signaling import (
    FilterModule,
    pmipv6_signaling_sas,
)
from ansible_collections.netlmm.pmipv6.plugins.plugin_utils import pmip_signaling
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ROOT = Path(__file__).absolute().parents[4]
SECRET = "unit-test-signaling-secret-0123456789abcdef"
GROUPS = {"pmipv6_lma": ["lma"], "pmipv6_mag": ["mag1", "mag2"], "pmipv6_ap": ["ap1"]}
HOSTVARS = {
    "lma": {},
    "mag1": {"pmipv6_lma": "lma"},
    "mag2": {"pmipv6_lma": "lma"},
    "ap1": {"pmipv6_mag": "mag1"},
}


def sas(host, secret=SECRET, epoch=1, algorithm="aes256-gcm16"):
    return pmipv6_signaling_sas(HOSTVARS, GROUPS, host, secret, epoch, algorithm)


def by_peer(entries):
    return {entry["peer"]: entry for entry in entries}


def test_registered():
    assert FilterModule().filters()["pmipv6_signaling_sas"] is pmipv6_signaling_sas


def test_each_host_gets_only_its_own_pairs():
    assert sorted(by_peer(sas("lma"))) == ["mag1", "mag2"]
    assert [e["peer"] for e in sas("mag1")] == ["lma"]
    assert [e["peer"] for e in sas("mag2")] == ["lma"]
    assert sas("ap1") == []


def test_both_ends_derive_the_same_sas():
    lma = by_peer(sas("lma"))
    for mag in ("mag1", "mag2"):
        (own,) = sas(mag)
        assert own["outbound"] == lma[mag]["inbound"]
        assert own["inbound"] == lma[mag]["outbound"]
        assert own["algorithm"] == lma[mag]["algorithm"] == "aes256-gcm16"


def test_every_direction_and_pair_has_its_own_key_and_spi():
    lma = by_peer(sas("lma"))
    keys = [lma[m][d]["key"] for m in lma for d in ("outbound", "inbound")]
    spis = [lma[m][d]["spi"] for m in lma for d in ("outbound", "inbound")]
    assert len(set(keys)) == 4
    assert len(set(spis)) == 4
    assert all(256 <= spi < 2**32 for spi in spis)


def test_the_documented_derivation():
    # HKDF-SHA256 (RFC 5869) with the info string the documentation gives: anyone with
    # the secret can recompute a key, e.g. to decrypt a capture with tshark.
    (mag1,) = sas("mag1")

    def hkdf(info, length):
        return HKDF(
            algorithm=hashes.SHA256(),
            length=length,
            salt=b"netlmm.pmipv6 signaling",
            info=info.encode(),
        ).derive(SECRET.encode())

    key = hkdf("netlmm.pmipv6 esp v1 key aes256-gcm16 mag1->lma epoch 1", 36)
    spi = 256 + int.from_bytes(hkdf("netlmm.pmipv6 esp v1 spi mag1->lma epoch 1", 4), "big") % (
        2**32 - 256
    )
    assert mag1["outbound"] == {"spi": spi, "key": key.hex()}


@pytest.mark.parametrize(("algorithm", "length"), [("aes256-gcm16", 36), ("aes128-gcm16", 20)])
def test_key_and_salt_have_the_algorithms_length(algorithm, length):
    for entry in sas("lma", algorithm=algorithm):
        assert entry["algorithm"] == algorithm
        for direction in ("outbound", "inbound"):
            assert len(bytes.fromhex(entry[direction]["key"])) == length


def test_a_new_epoch_or_secret_rekeys_everything():
    old = by_peer(sas("lma"))
    for new in (by_peer(sas("lma", epoch=2)), by_peer(sas("lma", secret=SECRET + "x"))):
        for mag in old:
            for direction in ("outbound", "inbound"):
                assert new[mag][direction]["key"] != old[mag][direction]["key"]
                assert new[mag][direction]["spi"] != old[mag][direction]["spi"]
    # the same inputs, the same SAs: a second run changes nothing
    assert by_peer(sas("lma")) == old
    # -e pmipv6_signaling_key_epoch=2 arrives as a string
    assert by_peer(sas("lma", epoch="2")) == by_peer(sas("lma", epoch=2))


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"secret": "too-short"}, "pmipv6_signaling_secret"),
        ({"secret": None}, "pmipv6_signaling_secret"),
        ({"epoch": 0}, "pmipv6_signaling_key_epoch"),
        ({"epoch": "one"}, "pmipv6_signaling_key_epoch"),
        ({"algorithm": "aes-cbc"}, "aes-cbc"),
    ],
)
def test_bad_inputs_fail_naming_the_variable(kwargs, names):
    with pytest.raises(AnsibleFilterError, match=names):
        sas("lma", **kwargs)


def test_colliding_inbound_spis_of_one_receiver_fail(monkeypatch):
    # With a range of one SPI every derivation collides: the check must see it.
    monkeypatch.setattr(pmip_signaling, "_SPI_RANGE", 1)
    with pytest.raises(AnsibleFilterError, match=r"SPI collision at lma: .*epoch to 2"):
        sas("mag1")  # a MAG fails too, for its LMA's collision


# --------------------------------------------------------------------------- inventory checks


def inventory(**common):
    hosts = {
        "lma": {"pmipv6_address": "2001:db8:ffff::1", "pmipv6_core_interface": "core0"},
        "mag1": {
            "pmipv6_address": "2001:db8:ffff::11",
            "pmipv6_core_interface": "core0",
            "pmipv6_access_interfaces": ["acc0"],
            "pmipv6_lma": "lma",
        },
    }
    base = {
        "pmipv6_domain": "lab.pmipv6.example",
        "pmipv6_hnp_pool": "2001:db8:100::/48",
        "pmipv6_mobile_nodes": [{"name": "mn1", "mac": "02:00:00:00:01:01"}],
    }
    hostvars = {name: dict(base, **common, **own) for name, own in hosts.items()}
    return hostvars, {"pmipv6_lma": ["lma"], "pmipv6_mag": ["mag1"]}


def signaling_errors(hostvars, groups):
    return [e for e in pmipv6_inventory_errors(hostvars, groups) if "signaling" in e]


def test_esp_is_on_by_default_and_needs_the_secret():
    assert signaling_errors(*inventory()) == [
        "lma, mag1: pmipv6_signaling_secret: missing: ESP protects the MAG-LMA signaling "
        "(pmipv6_signaling_security: esp, the default) and needs the domain secret, at "
        "least 32 characters, from Ansible Vault (README, Security)"
    ]
    assert signaling_errors(*inventory(pmipv6_signaling_secret=SECRET)) == []
    assert signaling_errors(*inventory(pmipv6_signaling_security="none")) == []


def test_inventory_signaling_mistakes():
    hostvars, groups = inventory(pmipv6_signaling_secret=SECRET)
    hostvars["mag1"]["pmipv6_signaling_secret"] = ""
    assert signaling_errors(hostvars, groups)[-1].startswith(
        "mag1: pmipv6_signaling_secret: missing"
    )

    errors = signaling_errors(*inventory(pmipv6_signaling_secret="short"))
    assert errors == [
        "lma: pmipv6_signaling_secret: too short: at least 32 characters "
        "(e.g. openssl rand -hex 32)"
    ]

    hostvars, groups = inventory(pmipv6_signaling_secret=SECRET)
    hostvars["mag1"]["pmipv6_signaling_secret"] = SECRET + "-other"
    (error,) = signaling_errors(hostvars, groups)
    assert error.startswith("mag1: pmipv6_signaling_secret: differs from the value lma has")
    assert SECRET not in error

    assert signaling_errors(
        *inventory(pmipv6_signaling_secret=SECRET, pmipv6_signaling_key_epoch=0)
    ) == ["lma: pmipv6_signaling_key_epoch: 0 is not an integer >= 1"]
    assert (
        signaling_errors(*inventory(pmipv6_signaling_secret=SECRET, pmipv6_signaling_key_epoch="2"))
        == []
    )
    assert signaling_errors(
        *inventory(pmipv6_signaling_secret=SECRET, pmipv6_signaling_algorithm="aes-cbc")
    ) == ["lma: pmipv6_signaling_algorithm: 'aes-cbc' is not one of aes128-gcm16, aes256-gcm16"]
    assert signaling_errors(*inventory(pmipv6_signaling_security="ipsec")) == [
        "lma: pmipv6_signaling_security: 'ipsec' is not esp or none"
    ]


# --------------------------------------------------------------------------- the generated lab key


def secret_of(inventory_path, home):
    """The emulated lab's pmipv6_signaling_secret as a real Ansible run templates it."""
    out = subprocess.run(
        [
            # the ansible CLI of the Python running the tests (the repo's venv, or
            # ansible-test's, which has no .venv in its copy of the collection)
            sys.executable,
            "-m",
            "ansible.cli.adhoc",
            "localhost",
            "-i",
            str(inventory_path),
            "-c",
            "local",
            "-m",
            "ansible.builtin.debug",
            "-a",
            "msg=secret={{ hostvars['lma'].pmipv6_signaling_secret }}",
        ],
        cwd=ROOT,
        env=dict(os.environ, HOME=str(home), ANSIBLE_STDOUT_CALLBACK="default"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split("secret=", 1)[1].split()[0].strip('"')


def test_the_emulated_labs_generate_and_keep_their_own_secret(tmp_path):
    lab = secret_of(ROOT / "inventories" / "emulated", tmp_path)
    tests = secret_of(ROOT / "tests" / "inventories" / "emulated", tmp_path)
    stored = tmp_path / ".config" / "netlmm-pmipv6"
    assert (stored / "emulated-signaling.secret").read_text().strip() == lab
    assert (stored / "tests-signaling.secret").read_text().strip() == tests
    assert len(lab) == 64 and lab != tests
    assert stat.S_IMODE((stored / "emulated-signaling.secret").stat().st_mode) == 0o600
    # kept: the next run derives the same keys (a second converge changes nothing)
    assert secret_of(ROOT / "inventories" / "emulated", tmp_path) == lab
