"""pmip6d.security.xfrm without a kernel: the commands it generates, and where keys go.

``ip`` is replaced by a script on PATH that records its arguments and stdin, so
the real subprocess path is exercised; the kernel side is tested in the
stock-kernel stage (tests/stock_kernel/test_xfrm_netns.py).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from pmip6d.errors import EXIT_KERNEL, exit_status
from pmip6d.security.xfrm import (
    KernelEsp,
    XfrmError,
    install_batch,
    kernel_has_esp,
    parse_xfrm_stat,
    read_counters,
    removal_commands,
)

LMA = "2001:db8:c::1"
MAG1 = "2001:db8:c::11"
MAG2 = "2001:db8:c::12"


@dataclass(frozen=True)
class Key:
    spi: int
    key_bytes: bytes


@dataclass(frozen=True)
class Sas:
    algorithm: str
    outbound: Key
    inbound: Key


OUT1 = bytes(range(1, 37))
IN1 = bytes(range(101, 137))
PEERS = [
    (MAG1, Sas("aes256-gcm16", Key(4097, OUT1), Key(8193, IN1))),
    (MAG2, Sas("aes128-gcm16", Key(4098, bytes(20)), Key(8194, b"\xff" * 20))),
]


def test_install_batch_adds_both_sas_and_policies_per_peer():
    lines = install_batch(LMA, PEERS, 64).splitlines()
    assert lines[:2] == [
        f"xfrm state add src {LMA} dst {MAG1} proto esp spi 0x1001 mode transport "
        f"replay-window 64 aead rfc4106(gcm(aes)) 0x{OUT1.hex()} 128",
        f"xfrm state add src {MAG1} dst {LMA} proto esp spi 0x2001 mode transport "
        f"replay-window 64 aead rfc4106(gcm(aes)) 0x{IN1.hex()} 128",
    ]
    assert lines[4:6] == [
        f"xfrm policy update dir out src {LMA}/128 dst {MAG1}/128 proto 135 "
        "tmpl proto esp mode transport level required",
        f"xfrm policy update dir in src {MAG1}/128 dst {LMA}/128 proto 135 "
        "tmpl proto esp mode transport level required",
    ]
    assert len(lines) == 8
    assert (
        f"spi 0x1002 mode transport replay-window 64 aead rfc4106(gcm(aes)) 0x{'00' * 20} 128"
        in (lines[2])
    )


def test_removal_deletes_policies_then_states_and_carries_no_key():
    commands = removal_commands(LMA, PEERS)
    assert commands[0] == [
        "xfrm", "policy", "deleteall", "dir", "out", "src", f"{LMA}/128",
        "dst", f"{MAG1}/128", "proto", "135",
    ]  # fmt: skip
    assert [c[1] for c in commands] == ["policy"] * 4 + ["state"] * 4
    assert commands[4] == [
        "xfrm", "state", "deleteall", "src", LMA, "dst", MAG1, "proto", "esp", "spi", "0x1001",
    ]  # fmt: skip
    text = json.dumps(commands)
    for _peer, sas in PEERS:
        for key in (sas.outbound.key_bytes, sas.inbound.key_bytes):
            assert key.hex() not in text


def test_a_key_of_the_wrong_length_is_refused_without_showing_it():
    short = [(MAG1, Sas("aes256-gcm16", Key(4097, OUT1[:20]), Key(8193, IN1)))]
    with pytest.raises(XfrmError) as err:
        KernelEsp(LMA, short)
    assert "20 bytes" in str(err.value) and OUT1[:20].hex() not in str(err.value)
    assert exit_status(err.value) == EXIT_KERNEL


@pytest.fixture
def fake_ip(tmp_path, monkeypatch):
    """An ``ip`` on PATH that logs argv and stdin, and fails when told to (echoing stdin)."""
    log = tmp_path / "calls.jsonl"
    script = tmp_path / "ip"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        "stdin = sys.stdin.read() if '-batch' in sys.argv else ''\n"
        f"open({str(log)!r}, 'a').write(json.dumps([sys.argv[1:], stdin]) + '\\n')\n"
        "if os.environ.get('FAKE_IP_FAIL') and stdin:\n"
        "    key = stdin.splitlines()[0].split()[-2]\n"
        "    sys.stderr.write('Error: argument \"' + key + '\" is wrong\\n')\n"
        "    sys.exit(1)\n"
        "if os.environ.get('FAKE_IP_NOAEAD') and stdin:\n"
        "    sys.stderr.write('Error: Requested AEAD algorithm not found.\\n')\n"
        "    sys.exit(2)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")

    def calls() -> list[tuple[list[str], str]]:
        if not log.exists():
            return []
        return [tuple(json.loads(line)) for line in log.read_text().splitlines()]

    return calls


def _all_keys() -> list[str]:
    return [k.key_bytes.hex() for _p, s in PEERS for k in (s.outbound, s.inbound)]


def test_install_feeds_keys_on_stdin_only_and_remove_undoes_it(fake_ip):
    esp = KernelEsp(LMA, PEERS, replay_window=128, netns="x1")
    esp.install()
    calls = fake_ip()
    # The old states go first (one deleteall each: a batch ends at its first deleteall).
    assert [argv[3:5] for argv, _stdin in calls[:4]] == [["state", "deleteall"]] * 4
    argv, stdin = calls[-1]
    assert argv == ["-n", "x1", "-batch", "-"]
    assert stdin == install_batch(LMA, PEERS, 128)
    for key in _all_keys():
        assert all(key not in " ".join(a) for a, _s in calls)
    esp.remove()
    removed = [argv for argv, _stdin in fake_ip()[len(calls) :]]
    assert removed == [["-n", "x1", *c] for c in removal_commands(LMA, PEERS)]


def test_an_install_error_names_the_failure_but_never_the_key(fake_ip, monkeypatch):
    monkeypatch.setenv("FAKE_IP_FAIL", "1")
    with pytest.raises(XfrmError) as err:
        KernelEsp(LMA, PEERS).install()
    message = str(err.value)
    assert "installing ESP" in message and "is wrong" in message and "<key>" in message
    for key in _all_keys():
        assert key not in message and key.upper() not in message


def test_probe_without_rfc4106_says_no_and_deletes_nothing(fake_ip, monkeypatch):
    monkeypatch.setenv("FAKE_IP_NOAEAD", "1")
    assert kernel_has_esp() is False
    assert [argv for argv, _stdin in fake_ip()] == [["-batch", "-"]]


def test_probe_with_rfc4106_deletes_its_throwaway_state(fake_ip):
    assert kernel_has_esp() is True
    (_add_argv, add), (del_argv, _none) = fake_ip()
    assert add.startswith("xfrm state add src ::1 dst ::1 proto esp spi ")
    spi = add.split()[10]
    assert del_argv == [
        "xfrm", "state", "delete", "src", "::1", "dst", "::1", "proto", "esp", "spi", spi,
    ]  # fmt: skip
    assert int(spi, 16) >= 256


def test_counters_from_xfrm_stat(tmp_path: Path):
    sample = (
        "XfrmInError             \t0\nXfrmInNoStates          \t3\n"
        "XfrmInStateProtoError   \t2\nXfrmInStateSeqError     \t1\n"
        "XfrmInTmplMismatch      \t5\n"
    )
    assert parse_xfrm_stat(sample)["XfrmInNoStates"] == 3
    path = tmp_path / "xfrm_stat"
    path.write_text(sample)
    assert read_counters(str(path)) == {
        "esp_unprotected_dropped": 5,
        "esp_auth_failed": 2,
        "esp_replayed": 1,
        "esp_unknown_spi": 3,
    }
    # A kernel without xfrm statistics: zeros, not an exception in pmipctl status.
    assert read_counters(str(tmp_path / "absent")) == dict.fromkeys(
        ("esp_unprotected_dropped", "esp_auth_failed", "esp_replayed", "esp_unknown_spi"), 0
    )


def test_the_config_models_give_the_same_commands():
    from pmip6d.config import PeerSecurityAssociations

    sas = PeerSecurityAssociations(
        peer="mag1",
        algorithm="aes256-gcm16",
        outbound={"spi": 4097, "key": OUT1.hex()},
        inbound={"spi": 8193, "key": "0x" + IN1.hex().upper()},
    )
    assert install_batch(LMA, [(MAG1, sas)], 64) == install_batch(LMA, PEERS[:1], 64)
