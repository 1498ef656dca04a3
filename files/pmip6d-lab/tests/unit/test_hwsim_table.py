"""The hwsim Table II report: averages, the VM's slowdown and the corrected estimate."""

from __future__ import annotations

import pytest

from pmip6d_lab import hwsim_table
from pmip6d_lab.experiment.paper import PAPER_TABLE_II_AVERAGE


def data(access, machine, scale, n=4):
    rows = []
    for i in range(n):
        base = {"l2_to_pbu_ms": 1.0, "pbu_to_pba_ms": 2.0, "pba_to_ra_ms": 0.5}
        values = {k: v * scale * (1 + 0.1 * i) for k, v in base.items()}
        values["total_ms"] = sum(values.values())
        rows.append({"handover": i + 1, "to_mag": "mag2" if i % 2 == 0 else "mag1", **values})
    return {"access": access, "kernel": "k", "machine": machine, "handovers": rows}


def test_slowdown_is_the_ratio_of_the_medians_and_divides_the_hwsim_figures():
    native = data("emulated", "native", 1.0)
    vm = data("emulated", "qemu", 12.0)
    hw = data("hwsim", "qemu", 24.0)
    factor = hwsim_table.slowdown(native, vm)
    assert factor == pytest.approx(dict.fromkeys(hwsim_table.PHASES, 12.0))
    text = hwsim_table.report(native, vm, hw, podman={p: 3.0 for p in hwsim_table.PHASES})
    lines = text.splitlines()
    # hwsim means (24 × 1.15 = 27.6 for L2 → PBU), then ÷ 12 = 2.30.
    hw_row = next(line for line in lines if line.startswith("| namespaces, hostapd"))
    assert hw_row.split(" | ")[1] == "27.60"
    est = next(line for line in lines if line.startswith("| hwsim ÷"))
    assert est.split(" | ")[1:] == ["2.30", "4.60", "1.15", "8.05 |"]
    paper = next(line for line in lines if line.startswith("| Paper"))
    assert paper.split(" | ")[1] == f"{PAPER_TABLE_II_AVERAGE['l2_to_pbu_ms']:.2f}"
    assert "| podman lab, emulated APs (docs/results) | 3.00 |" in text
    assert "L2 → PBU ×12.0" in text
    assert text.count("| mag2 |") == 2 and text.count("| mag1 |") == 2  # every hwsim handover


def test_the_runs_must_be_what_their_place_says():
    native = data("emulated", "native", 1.0)
    vm = data("emulated", "qemu", 10.0)
    with pytest.raises(ValueError, match="expected hwsim on qemu, got emulated on qemu"):
        hwsim_table.report(native, vm, vm)
    with pytest.raises(ValueError, match="expected emulated on native"):
        hwsim_table.report(vm, vm, data("hwsim", "qemu", 20.0))


def test_podman_table_ii_averages_the_scenario_2_runs_only():
    runs = [
        {"scenario": 2, **dict.fromkeys(hwsim_table.PHASES, 2.0)},
        {"scenario": 2, **dict.fromkeys(hwsim_table.PHASES, 4.0)},
        {"scenario": 1, **dict.fromkeys(hwsim_table.PHASES, 100.0)},
        {"scenario": 2, **dict.fromkeys(hwsim_table.PHASES, None)},
    ]
    assert hwsim_table.podman_table_ii({"runs": runs}) == dict.fromkeys(hwsim_table.PHASES, 3.0)
