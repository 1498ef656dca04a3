"""docs/results-hwsim/report.md is what its committed runs give (scripts/hwsim-table.sh).

The report is regenerated from native.json, vm-emulated.json and vm-hwsim.json (and
docs/results/results.json for the podman lab's row) and must be the committed file,
byte for byte: no figure in it was edited by hand or left from older runs.
"""

from __future__ import annotations

import json

from pmipv6_test_helpers import ROOT

from pmip6d_lab import hwsim_table

DOCS = ROOT / "docs" / "results-hwsim"


def test_the_committed_report_is_its_runs():
    runs = [
        json.loads((DOCS / f"{name}.json").read_text())
        for name in ("native", "vm-emulated", "vm-hwsim")
    ]
    podman = hwsim_table.podman_table_ii(
        json.loads((ROOT / "docs" / "results" / "results.json").read_text())
    )
    assert hwsim_table.report(*runs, podman=podman) == (DOCS / "report.md").read_text()
    assert [r["machine"] for r in runs] == ["native", "qemu", "qemu"]
    assert all(len(r["handovers"]) == 10 for r in runs)


def test_the_readme_quotes_the_committed_report():
    runs = [
        json.loads((DOCS / f"{name}.json").read_text())
        for name in ("native", "vm-emulated", "vm-hwsim")
    ]
    native, vm, hw = runs
    factor = hwsim_table.slowdown(native, vm)
    by_phase = [factor[p] for p in hwsim_table.PHASES if p != "total_ms"]
    hw_total = hwsim_table.means(hw)["total_ms"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"the VM ran them {factor['total_ms']:.1f}× slower (median total;" in readme
    assert f"{min(by_phase):.1f}× to {max(by_phase):.1f}× by phase)" in readme
    assert f"took {hw_total:.2f} ms on average in the VM" in readme
    assert f"about {hw_total / factor['total_ms']:.1f} ms on this machine" in readme
    assert f"({hwsim_table.means(native)['total_ms']:.2f} ms natively)" in readme
