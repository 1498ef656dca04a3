"""The nftables text that drops a share of Mobility Header packets (pmip6d_lab.loss)."""

from __future__ import annotations

import pytest

from pmip6d_lab.loss import ruleset


def chains(text: str) -> dict[str, list[str]]:
    """Chain name -> its statements, from the ruleset text."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["chain"]:
            current = words[1]
            out[current] = []
        elif line.strip() == "}":
            current = None
        elif current is not None:
            out[current].append(line.strip())
    return out


def test_both_ways_drop_their_share_of_mobility_header_only():
    text = ruleset(30, 20)
    assert text.startswith("table ip6 pmip6d_loss {\n") and text.endswith("}\n")
    assert chains(text) == {
        "input": [
            "type filter hook input priority filter; policy accept;",
            "meta l4proto 135 numgen random mod 100 < 30 counter drop",
        ],
        "output": [
            "type filter hook output priority filter; policy accept;",
            "meta l4proto 135 numgen random mod 100 < 20 counter drop",
        ],
    }


def test_a_direction_without_loss_gets_no_chain():
    assert set(chains(ruleset(0, 30))) == {"output"}
    assert set(chains(ruleset(30, 0))) == {"input"}
    assert chains(ruleset(0, 0)) == {}


def test_every_packet_and_the_table_name():
    text = ruleset(100, 100, table="t1")
    assert text.startswith("table ip6 t1 {")
    assert text.count("mod 100 < 100 counter drop") == 2


@pytest.mark.parametrize("bad", [-1, 101, 30.5, "30"])
def test_a_share_that_is_not_a_percentage_is_refused(bad):
    with pytest.raises(ValueError, match="whole percentage"):
        ruleset(bad, 0)
    with pytest.raises(ValueError, match="output loss"):
        ruleset(0, bad)
