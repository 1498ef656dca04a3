"""The emulated AP's syslog lines are what a real Aironet sends, and our MAG parses them."""

from __future__ import annotations

import re

import pytest

from pmip6d.config import ConfigError
from pmip6d.triggers import L2Event, parse_cisco_datagram
from pmip6d_lab.emulated_ap import ApConfig, associated, deauthenticated, load_aps, roamed

STATION = bytes.fromhex("020000000101")
AP1 = ApConfig(bssid="0019.a9f0.0001", syslog_to="fd00:a1::1")
AP2 = ApConfig(bssid="0019.a9f0.0002", syslog_to="fd00:a2::1", hostname="ap2")
IOS = re.compile(
    r"^<(\d+)>\d+: (\S+: )?\*[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.\d{3}: %DOT11-\d-[A-Z]+: "
)


@pytest.mark.parametrize(
    ("line", "kind", "reason", "hint"),
    [
        (associated(AP1, STATION, "MN1"), "attach", "Associated", "new"),
        (associated(AP1, STATION), "attach", "Associated", "new"),
        (
            associated(AP2, STATION, "", reassociation=True),
            "attach",
            "Reassociated",
            "reassociation",
        ),
        (roamed(AP1, STATION, AP2), "detach", "Roamed", None),
        (deauthenticated(AP2, STATION), "detach", "Deauthenticated", None),
    ],
)
def test_lines_parse_as_the_mag_expects(line, kind, reason, hint):
    assert IOS.match(line), line
    assert int(IOS.match(line).group(1)) in (190, 188)  # local7, severity 6 or 4
    event = parse_cisco_datagram(line.encode(), source="fd00:a1::2")
    assert isinstance(event, L2Event)
    assert (event.kind, event.mac, event.reason, event.handoff_hint) == (
        kind,
        STATION,
        reason,
        hint,
    )


def test_roamed_names_the_new_bssid():
    assert roamed(AP1, STATION, AP2).endswith("Station 0200.0000.0101 Roamed to 0019.a9f0.0002")


def test_origin_id_hostname():
    assert ": ap2: *" in associated(AP2, STATION)


def test_config_errors_name_the_field(tmp_path):
    path = tmp_path / "aps.yml"
    path.write_text("aps:\n  ap1: {bssid: '0019.a9f0.0001', syslog_to: 'not-an-ip'}\n")
    with pytest.raises(ConfigError, match=r"aps\.yml: aps\.ap1\.syslog_to: "):
        load_aps(path)
