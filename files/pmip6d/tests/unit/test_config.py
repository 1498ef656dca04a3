"""Config and policy files: what loads, and one message naming file and field when not."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import POLICY

from pmip6d.config import ConfigError, LmaConfig, MagConfig, load
from pmip6d.daemon.agents import load_lma, load_mag
from pmip6d.policy import Policy
from pmip6d.rules import parse_mac

LMA_CONFIG = {
    "name": "lma",
    "policy": "policy.yml",
    "control_socket": "/tmp/pmip6d-test-lma.sock",
    "prefix_pool": {"prefix": "2001:db8:100::/48", "length": 64},
}
MAG_CONFIG = {"name": "mag1", "policy": "policy.yml", "control_socket": "/tmp/pmip6d-test-mag.sock"}


def write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


@pytest.fixture
def domain(tmp_path):
    write(tmp_path, "policy.yml", POLICY)
    write(tmp_path, "lma.yml", LMA_CONFIG)
    write(tmp_path, "mag.yml", MAG_CONFIG)
    return tmp_path


def test_valid_files_load(domain):
    config, lma, _unused = load_lma(domain / "lma.yml")
    assert config.replay_protection == "timestamp"
    assert lma.address == "2001:db8:ffff::1"
    assert lma.pool.size == 65536
    config, mag, _unused = load_mag(domain / "mag.yml")
    assert mag.address == "2001:db8:ffff::11"
    assert config.link_local_address == "fe80::1"


def test_relative_policy_path_resolves_beside_config(domain):
    config = load(domain / "lma.yml", LmaConfig)
    assert config.policy == domain / "policy.yml"


def policy_error(tmp_path, mutate) -> str:
    doc = copy.deepcopy(POLICY)
    mutate(doc)
    path = write(tmp_path, "policy.yml", doc)
    with pytest.raises(ConfigError) as err:
        Policy.load(path)
    text = str(err.value)
    assert text.startswith(f"{path}: "), text
    assert "\n" not in text
    return text


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (
            lambda d: d["mobile_nodes"][1].update(macs=["zz:00:00:00:00:01"]),
            "mobile_nodes[1].macs[0]",
            "not a MAC address",
        ),
        (
            lambda d: d["mobile_nodes"][1].update(macs=[123456]),
            "mobile_nodes[1].macs[0]",
            "quote MAC addresses, YAML read this one as a number",
        ),
        (lambda d: d["mobile_nodes"][1].update(macs=[]), "mobile_nodes[1].macs", "at least 1"),
        (
            lambda d: d["mobile_nodes"][1].update(macs=["02:00:00:00:01:01"]),
            "mobile_nodes[1].macs[0]",
            "also mobile node 'mn1@lab.example'",
        ),
        (
            lambda d: d["mobile_nodes"][1].update(id="mn1@lab.example"),
            "mobile_nodes[1].id",
            "listed twice",
        ),
        (
            lambda d: d["mobile_nodes"][1].update(lma="nowhere"),
            "mobile_nodes[1].lma",
            "no LMA named",
        ),
        (
            lambda d: d["mobile_nodes"][1].update(mags=["mag9"]),
            "mobile_nodes[1].mags[0]",
            "no MAG named",
        ),
        (
            lambda d: d["mobile_nodes"][3].update(hnps=["2001:db8:200:1:8000::/65"]),
            "mobile_nodes[3].hnps[0]",
            "overlaps mobile_nodes[2].hnps[0]",
        ),
        (
            lambda d: d["mobile_nodes"][1].update(hnps=["2001:db8:200::1/64"]),
            "mobile_nodes[1].hnps[0]",
            "host bits set",
        ),
        (
            lambda d: d["mobile_nodes"][1].update(colour="red"),
            "mobile_nodes[1].colour",
            "Extra inputs",
        ),
        (
            lambda d: d["lmas"][0].update(accept_mags=["mag1", "ghost"]),
            "lmas[0].accept_mags[1]",
            "no MAG named 'ghost'",
        ),
        (
            lambda d: d["lmas"][0].update(address="not-an-address"),
            "lmas[0].address",
            "not an IPv6 address",
        ),
        (
            lambda d: d["mags"][1].update(address="2001:db8:ffff::11"),
            "mags[1].address",
            "also mags[0]",
        ),
        (
            lambda d: d["mags"].append({"name": "mag1", "address": "2001:db8::5"}),
            "mags[3].name",
            "twice",
        ),
        (lambda d: d.update(lmas=[]), "lmas", "at least 1"),
        # The rules the collection's filter follows too (pmip6d/rules.py):
        (
            lambda d: d["mobile_nodes"][1].update(macs=["01:00:5e:00:00:01"]),
            "mobile_nodes[1].macs[0]",
            "01:00:5e:00:00:01 is a multicast MAC address",
        ),
        (
            lambda d: d["mobile_nodes"][1].update(macs=["00:00:00:00:00:00"]),
            "mobile_nodes[1].macs[0]",
            "all-zero MAC address",
        ),
        (
            lambda d: d["mags"][0].update(address="fe80::11"),
            "mags[0].address",
            "fe80::11 is a link-local address; a routable unicast address is needed",
        ),
        (
            lambda d: d["lmas"][0].update(address="ff02::2"),
            "lmas[0].address",
            "is a multicast address",
        ),
        (lambda d: d["lmas"][0].update(address="::"), "lmas[0].address", "unspecified"),
        (lambda d: d.update(domain="lab@example"), "domain", "is not a domain name"),
    ],
)
def test_policy_errors_name_the_field(tmp_path, mutate, field, words):
    text = policy_error(tmp_path, mutate)
    assert f": {field}: " in text, text
    assert words in text, text


def test_unquoted_mac_in_yaml_is_explained(tmp_path):
    doc = yaml.safe_dump(POLICY)
    assert "02:00:00:00:02:02" in doc
    doc = doc.replace("'02:00:00:00:02:02'", "12:34:56:12:34:56").replace(
        "02:00:00:00:02:02", "12:34:56:12:34:56"
    )
    path = write(tmp_path, "policy.yml", doc)
    with pytest.raises(ConfigError, match=r"mobile_nodes\[1\]\.macs\[0\]: .*quote MAC addresses"):
        Policy.load(path)


def test_yaml_syntax_error_names_line(tmp_path):
    path = write(tmp_path, "policy.yml", "lmas:\n  - name: lma\n   address: x\n")
    with pytest.raises(ConfigError, match=r"policy\.yml: line 3: "):
        Policy.load(path)


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="the file is empty"):
        Policy.load(write(tmp_path, "policy.yml", ""))
    with pytest.raises(ConfigError, match="cannot read"):
        Policy.load(tmp_path / "nope.yml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        Policy.load(write(tmp_path, "policy.yml", "- 1\n- 2\n"))


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"name": "mag1"}, r"lma\.yml: name: no LMA named 'mag1'"),
        ({"replay_protection": "nonce"}, r"lma\.yml: replay_protection: "),
        (
            {"prefix_pool": {"prefix": "2001:db8:200::/48"}},
            r"lma\.yml: prefix_pool\.prefix: .*overlaps the fixed",
        ),
        (
            {"prefix_pool": {"prefix": "2001:db8:100::/48", "length": 40}},
            r"lma\.yml: prefix_pool\.length: 40 is shorter",
        ),
        ({"max_binding_lifetime": 1}, r"lma\.yml: max_binding_lifetime: "),
        (
            {"prefix_pool": {"prefix": "2001:db8:100::/48", "length": 47}},
            r"lma\.yml: prefix_pool\.length: 47 is shorter than the pool prefix 2001:db8:100::/48$",
        ),
        ({"surprise": 1}, r"lma\.yml: surprise: Extra inputs"),
    ],
)
def test_lma_config_errors(domain, change, pattern):
    write(domain, "lma.yml", {**LMA_CONFIG, **change})
    with pytest.raises(ConfigError, match=pattern):
        load_lma(domain / "lma.yml")


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"name": "lma"}, r"mag\.yml: name: no MAG named 'lma'"),
        (
            {"link_local_address": "2001:db8::1"},
            r"mag\.yml: link_local_address: .*not a link-local",
        ),
        ({"default_lma": "lma"}, r"mag\.yml: default_lma: .*does not serve unlisted"),
        ({"default_lma": "zzz"}, r"mag\.yml: default_lma: no LMA named"),
        ({"refresh_fraction": 1.5}, r"mag\.yml: refresh_fraction: "),
        (
            {"initial_bindack_timeout_first_reg_ms": 60000},
            r"mag\.yml: initial_bindack_timeout_first_reg_ms: larger than max_bindack_timeout_ms$",
        ),
        (
            {"dataplane": {"core_interface": "core0"}},
            r"mag\.yml: access: a MAG with a dataplane needs access\.interfaces$",
        ),
        (
            {"access": {"interfaces": ["acc0"], "mac": "01:80:c2:00:00:0e"}},
            r"mag\.yml: access\.mac: 01:80:c2:00:00:0e is a multicast MAC address$",
        ),
        (
            {"access": {"interfaces": ["acc0"], "mac": "00-00-00-00-00-00"}},
            r"mag\.yml: access\.mac: 00-00-00-00-00-00 is the all-zero MAC address$",
        ),
        (
            {"access": {"interfaces": ["acc0", "acc1", "acc0"]}},
            r"mag\.yml: access\.interfaces\[2\]: acc0 is listed twice$",
        ),
        (
            {"access": {"interfaces": ["acc0", "core0"]}, "dataplane": {"core_interface": "core0"}},
            r"mag\.yml: access\.interfaces\[1\]: core0 is also dataplane\.core_interface$",
        ),
    ],
)
def test_mag_config_errors(domain, change, pattern):
    write(domain, "mag.yml", {**MAG_CONFIG, **change})
    with pytest.raises(ConfigError, match=pattern):
        load_mag(domain / "mag.yml")


def test_mag_config_defaults_follow_rfc():
    config = MagConfig.model_validate({"name": "m", "policy": "p"})
    assert config.initial_bindack_timeout_first_reg_ms == 1500
    assert config.max_bindack_timeout_ms == 32000
    assert config.keep_registering is True
    lma = LmaConfig.model_validate({"name": "l", "policy": "p"})
    assert lma.min_delay_before_bce_delete_ms == 10000
    assert lma.max_delay_before_new_bce_assign_ms == 1500
    assert lma.timestamp_validity_window_ms == 300


def test_keep_registering_reaches_the_machine(domain):
    _unused, mag, _unused = load_mag(domain / "mag.yml")
    assert mag.settings.keep_registering is True
    write(domain, "mag.yml", {**MAG_CONFIG, "keep_registering": False})
    _unused, mag, _unused = load_mag(domain / "mag.yml")
    assert mag.settings.keep_registering is False


def test_unlisted_mobile_nodes(domain):
    doc = copy.deepcopy(POLICY)
    doc["lmas"][0]["serve_unlisted"] = True
    write(domain, "policy.yml", doc)
    write(domain, "mag.yml", {**MAG_CONFIG, "default_lma": "lma"})
    _unused, mag, _unused = load_mag(domain / "mag.yml")
    profile = mag.policy.profile_for_mac(bytes.fromhex("02aabbccddee"))
    assert profile.mn_id == b"02aabbccddee@lab.example" and profile.lma == "2001:db8:ffff::1"


@pytest.mark.parametrize("text", ["02:00:5e:00:53:01", "02-00-5E-00-53-01", "0200.5e00.5301"])
def test_mac_spellings(text):
    assert parse_mac(text) == bytes.fromhex("02005e005301")


def test_check_command_fails_at_once_with_one_line(domain):
    write(domain, "lma.yml", {**LMA_CONFIG, "prefix_pool": {"prefix": "2001:db8:100::1/48"}})
    result = subprocess.run(
        [sys.executable, "-m", "pmip6d", "lma", "-c", str(domain / "lma.yml"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "lma.yml: prefix_pool.prefix: " in lines[0] and "host bits set" in lines[0]
    ok = subprocess.run(
        [sys.executable, "-m", "pmip6d", "mag", "-c", str(domain / "mag.yml"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0 and "OK" in ok.stdout


@pytest.mark.parametrize(
    ("access", "problem"),
    [
        ({"interfaces": ["acc0"], "mac": "ff:ff:ff:ff:ff:ff"},
         "access.mac: ff:ff:ff:ff:ff:ff is a multicast MAC address"),
        ({"interfaces": ["acc0"], "mac": "0000.0000.0000"},
         "access.mac: 0000.0000.0000 is the all-zero MAC address"),
        ({"interfaces": ["acc0", "acc0"]}, "access.interfaces[1]: acc0 is listed twice"),
    ],
)  # fmt: skip
def test_check_refuses_what_a_start_would_refuse(domain, access, problem):
    """The role's validate step (--check) fails on these, not the start after it."""
    write(domain, "mag.yml", {**MAG_CONFIG, "access": access})
    result = subprocess.run(
        [sys.executable, "-m", "pmip6d", "mag", "-c", str(domain / "mag.yml"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, ""), result.stdout + result.stderr
    assert result.stderr == f"pmip6d: {domain / 'mag.yml'}: {problem}\n"


def test_heartbeat_keys_default_to_rfc5847_and_reach_the_machines(domain):
    from pmip6d import defaults

    lma = LmaConfig.model_validate({"name": "l", "policy": "p"})
    mag = MagConfig.model_validate({"name": "m", "policy": "p"})
    for config in (lma, mag):
        assert config.heartbeat_interval == defaults.HEARTBEAT_INTERVAL == 60
        assert config.missing_heartbeats_allowed == defaults.MISSING_HEARTBEATS_ALLOWED == 3
    assert lma.peer_down_grace is None and lma.restart_counter_file is None
    write(
        domain,
        "lma.yml",
        {**LMA_CONFIG, "heartbeat_interval": 1.5, "missing_heartbeats_allowed": 2,
         "peer_down_grace": 30},
    )  # fmt: skip
    write(domain, "mag.yml", {**MAG_CONFIG, "heartbeat_interval": 0})
    _config, lma_machine, _policy = load_lma(domain / "lma.yml")
    settings = lma_machine.settings.heartbeat
    assert (settings.interval, settings.missing_allowed, settings.peer_down_grace) == (1.5, 2, 30)
    _config, mag_machine, _policy = load_mag(domain / "mag.yml")
    assert mag_machine.settings.heartbeat.interval == 0 and not mag_machine.heartbeat.enabled


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"heartbeat_interval": -1}, r"lma\.yml: heartbeat_interval: "),
        ({"missing_heartbeats_allowed": 0}, r"lma\.yml: missing_heartbeats_allowed: "),
        ({"peer_down_grace": 0}, r"lma\.yml: peer_down_grace: "),
    ],
)
def test_heartbeat_key_errors(domain, change, pattern):
    write(domain, "lma.yml", {**LMA_CONFIG, **change})
    with pytest.raises(ConfigError, match=pattern):
        load_lma(domain / "lma.yml")
