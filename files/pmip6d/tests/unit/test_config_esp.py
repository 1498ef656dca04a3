"""signaling_security: what loads, one message naming file and field, never a key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import POLICY

from pmip6d.config import ConfigError, LmaConfig
from pmip6d.daemon.agents import load_lma, load_mag
from pmip6d.errors import EXIT_KERNEL
from pmip6d.security import peers as security_peers

KEY256 = "ab" * 36
KEY128 = "cd" * 20
SECRET_LOOKING = "5ec7" * 18  # 36 bytes: must never appear in an error


def sa(peer: str, out: int, inbound: int, key: str = KEY256, algorithm="aes256-gcm16") -> dict:
    return {
        "peer": peer,
        "algorithm": algorithm,
        "outbound": {"spi": out, "key": key},
        "inbound": {"spi": inbound, "key": key},
    }


def lma_config(**security) -> dict:
    security.setdefault("mode", "esp")
    security.setdefault("security_associations", [sa("mag1", 4097, 8193), sa("mag2", 4098, 8194)])
    return {"name": "lma", "policy": "policy.yml", "signaling_security": security}


def mag_config(**security) -> dict:
    security.setdefault("mode", "esp")
    security.setdefault("security_associations", [sa("lma", 8193, 4097), sa("other", 8195, 4099)])
    return {"name": "mag1", "policy": "policy.yml", "signaling_security": security}


def write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def lma_error(tmp_path: Path, config: dict) -> str:
    write(tmp_path, "policy.yml", POLICY)
    with pytest.raises(ConfigError) as caught:
        load_lma(write(tmp_path, "lma.yml", config))
    return str(caught.value)


def test_both_sides_load(tmp_path):
    write(tmp_path, "policy.yml", POLICY)
    config, _machine, _policy = load_lma(write(tmp_path, "lma.yml", lma_config()))
    security = config.signaling_security
    assert (security.mode, security.implementation, security.replay_window) == ("esp", "auto", 0)
    assert security.security_associations[0].outbound.key_bytes == bytes.fromhex(KEY256)
    config, _machine, _policy = load_mag(write(tmp_path, "mag.yml", mag_config()))
    assert config.signaling_security.security_associations[1].peer == "other"


def test_absent_means_no_esp(tmp_path):
    write(tmp_path, "policy.yml", POLICY)
    config, _machine, _policy = load_lma(
        write(tmp_path, "lma.yml", {"name": "lma", "policy": "policy.yml"})
    )
    assert config.signaling_security is None


def test_mode_none_needs_no_associations(tmp_path):
    write(tmp_path, "policy.yml", POLICY)
    config = lma_config(mode="none", security_associations=[])
    load_lma(write(tmp_path, "lma.yml", config))


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (lambda s: s.update(mode="ah"), "signaling_security.mode", "'none' or 'esp'"),
        (
            lambda s: s.update(implementation="openssl"),
            "signaling_security.implementation",
            "'auto', 'kernel' or 'agent'",
        ),
        (lambda s: s.update(replay_window=-1), "signaling_security.replay_window", "greater"),
        (
            lambda s: s["security_associations"][0]["outbound"].update(spi=255),
            "signaling_security.security_associations[0].outbound.spi",
            "greater than or equal to 256",
        ),
        (
            lambda s: s["security_associations"][0]["inbound"].update(spi=2**32),
            "signaling_security.security_associations[0].inbound.spi",
            "less than or equal to 4294967295",
        ),
        (
            lambda s: s["security_associations"][1]["inbound"].update(key="zz" + SECRET_LOOKING),
            "signaling_security.security_associations[1].inbound.key",
            "hex digits",
        ),
        (
            lambda s: s["security_associations"][1]["outbound"].update(key=SECRET_LOOKING + "f"),
            "signaling_security.security_associations[1].outbound.key",
            "hex digits",
        ),
        (
            lambda s: s["security_associations"][0].update(algorithm="aes128-gcm16"),
            "signaling_security.security_associations[0].outbound.key",
            "aes128-gcm16 needs 20 bytes",
        ),
        (
            lambda s: s["security_associations"][0].update(algorithm="aes-cbc"),
            "signaling_security.security_associations[0].algorithm",
            "'aes128-gcm16' or 'aes256-gcm16'",
        ),
        (
            lambda s: s["security_associations"][1]["inbound"].update(spi=8193),
            "signaling_security.security_associations[1].inbound.spi",
            "inbound SPI 8193 is used by another peer",
        ),
        (
            lambda s: s["security_associations"][1].update(peer="mag1"),
            "signaling_security.security_associations[1].peer",
            "mag1 has two entries",
        ),
        (
            lambda s: s["security_associations"][0]["outbound"].update(secret=1),
            "signaling_security.security_associations[0].outbound.secret",
            "Extra inputs",
        ),
    ],
)
def test_a_bad_value_names_its_field(tmp_path, change, field, problem):
    config = lma_config()
    config["signaling_security"]["security_associations"][1]["inbound"]["key"] = SECRET_LOOKING
    config["signaling_security"]["security_associations"][1]["outbound"]["key"] = SECRET_LOOKING
    change(config["signaling_security"])
    message = lma_error(tmp_path, config)
    assert message.startswith(f"{tmp_path / 'lma.yml'}: {field}: "), message
    assert problem in message
    assert SECRET_LOOKING not in message and KEY256 not in message


def test_aes128_keys(tmp_path):
    config = lma_config(
        security_associations=[
            sa("mag1", 4097, 8193, KEY128, "aes128-gcm16"),
            sa("mag2", 4098, 8194, "0x" + KEY256.upper()),
        ]
    )
    write(tmp_path, "policy.yml", POLICY)
    loaded, _machine, _policy = load_lma(write(tmp_path, "lma.yml", config))
    pairs = loaded.signaling_security.security_associations
    assert len(pairs[0].inbound.key_bytes) == 20 and len(pairs[1].inbound.key_bytes) == 36


def test_a_peer_must_be_in_the_policy(tmp_path):
    config = lma_config()
    config["signaling_security"]["security_associations"].append(sa("lma2", 4100, 8200))
    message = lma_error(tmp_path, config)
    assert "signaling_security.security_associations[2].peer: no MAG named 'lma2'" in message
    # The LMA's own peers are MAGs: naming an LMA there is a mistake too.
    config["signaling_security"]["security_associations"][2]["peer"] = "other"
    assert "no MAG named 'other'" in lma_error(tmp_path, config)


def test_an_lma_needs_an_sa_for_every_accepted_mag(tmp_path):
    config = lma_config(security_associations=[sa("mag1", 4097, 8193)])
    message = lma_error(tmp_path, config)
    assert message.startswith(f"{tmp_path / 'lma.yml'}: signaling_security.security_associations:")
    assert "'mag2'" in message and "accept_mags" in message


def test_a_mag_needs_an_sa_for_every_lma_that_accepts_it(tmp_path):
    write(tmp_path, "policy.yml", POLICY)
    config = mag_config(security_associations=[sa("lma", 8193, 4097)])
    with pytest.raises(ConfigError, match="no entry for LMA 'other'"):
        load_mag(write(tmp_path, "mag.yml", config))
    config = mag_config(security_associations=[sa("mag2", 8193, 4097)])
    with pytest.raises(ConfigError, match=r"security_associations\[0\].peer: no LMA named 'mag2'"):
        load_mag(write(tmp_path, "mag.yml", config))


def test_keys_stay_out_of_repr_and_dumps_of_the_model():
    config = LmaConfig.model_validate({**lma_config(), "policy": "/p.yml"})
    assert KEY256 not in repr(config)
    assert KEY256 not in str(config.signaling_security)


def test_implementation_choice(monkeypatch):
    security = LmaConfig.model_validate({**lma_config(), "policy": "/p.yml"}).signaling_security
    choose = security_peers.choose_implementation
    assert choose(security.model_copy(update={"implementation": "agent"}), "lma.yml") == "agent"
    # This kernel's answer, whatever it is, through the lazily imported kernel module.
    monkeypatch.setattr(security_peers, "_kernel_has_esp", lambda: False)
    assert choose(security, "lma.yml") == "agent"
    with pytest.raises(security_peers.NoKernelEsp) as caught:
        choose(security.model_copy(update={"implementation": "kernel"}), "lma.yml")
    assert caught.value.exit_status == EXIT_KERNEL
    assert str(caught.value).startswith("lma.yml: signaling_security.implementation: kernel")
    monkeypatch.setattr(security_peers, "_kernel_has_esp", lambda: True)
    assert choose(security, "lma.yml") == "kernel"


def test_check_refuses_kernel_esp_where_start_would(tmp_path, monkeypatch, capsys):
    from pmip6d import cli

    write(tmp_path, "policy.yml", POLICY)
    monkeypatch.setattr(security_peers, "_kernel_has_esp", lambda: False)
    monkeypatch.setattr(cli.os, "geteuid", lambda: 0)
    config = write(tmp_path, "lma.yml", lma_config(implementation="kernel"))
    assert cli.pmip6d_main(["lma", "-c", str(config), "--check"]) == EXIT_KERNEL
    err = capsys.readouterr().err
    assert err.startswith(f"pmip6d: {config}: signaling_security.implementation: kernel")
    assert KEY256 not in err
    config = write(tmp_path, "lma.yml", lma_config(implementation="auto"))
    assert cli.pmip6d_main(["lma", "-c", str(config), "--check"]) == 0
    out = capsys.readouterr().out
    assert "signaling security: ESP, agent implementation" in out and KEY256 not in out
