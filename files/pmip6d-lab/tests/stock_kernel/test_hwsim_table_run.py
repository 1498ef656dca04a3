"""The hwsim Table II runner (scripts/hwsim-table.sh) in Debian's kernel: two real roams.

Runs in the stock-kernel stage (mac80211_hwsim). Each handover's row is the serving
MAG's own timeline, alternating MAG2 and MAG1, from hostapd's connect events.
"""

from __future__ import annotations

import pytest

from pmip6d_lab import hwsim_table

pytestmark = pytest.mark.netns


def test_two_hwsim_handovers_give_two_table_ii_rows(tmp_path):
    data = hwsim_table.run("hwsim", 2, tmp_path, settle=0.5)
    assert data["access"] == "hwsim" and data["machine"] == "qemu"
    rows = data["handovers"]
    assert [r["to_mag"] for r in rows] == ["mag2", "mag1"]
    for row in rows:
        assert row["reason"] == "Connected"  # hostapd's AP-STA-CONNECTED
        assert all(row[p] >= 0 for p in hwsim_table.PHASES), row
        parts = row["l2_to_pbu_ms"] + row["pbu_to_pba_ms"] + row["pba_to_ra_ms"]
        assert row["total_ms"] == pytest.approx(parts, abs=0.01)
