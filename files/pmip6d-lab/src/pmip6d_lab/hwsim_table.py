"""Table II on real 802.11 (hostapd, wpa_supplicant, mac80211_hwsim), beside the others.

The paper's scenario 2 (shared MAG link-local address and MAC, static tunnels) on the
namespace testbed, one MN handed over back and forth between the two MAGs; each
handover's phases come from the serving MAG's own timeline (layer-2 event → PBU sent →
PBA received → RA sent, the same four numbers as Table II).

mac80211_hwsim exists only in Debian's kernel, which runs here under QEMU without KVM,
where every CPU cycle is emulated: the hwsim figures are slow by that factor, not by
802.11. So the same handovers also run with emulated APs (veths, ``pmip6d-ap``
syslog) in the VM and natively on this machine; the ratio of those two, phase by
phase, is the VM's slowdown, and the hwsim figures divided by it estimate the phases
on this machine's own CPU.

    python -m pmip6d_lab.hwsim_table run --access hwsim --handovers 10 --out vm-hwsim.json
    python -m pmip6d_lab.hwsim_table report native.json vm-emulated.json vm-hwsim.json \\
        --podman docs/results/results.json --out report.md

``scripts/hwsim-table.sh`` runs the three and writes the report. Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .experiment.analysis import PHASES
from .experiment.paper import PAPER_TABLE_II_AVERAGE
from .netlab import wait_for
from .nsdomain import APS, MAGS, build_domain

HEADS = {
    "l2_to_pbu_ms": "L2 → PBU",
    "pbu_to_pba_ms": "PBU → PBA",
    "pba_to_ra_ms": "PBA → RA",
    "total_ms": "total",
}


def virtualized() -> str:
    """What this kernel runs on: the DMI vendor QEMU reports, else 'native'."""
    try:
        vendor = Path("/sys/class/dmi/id/sys_vendor").read_text().strip()
    except OSError:
        vendor = ""
    return "qemu" if "QEMU" in vendor else "native"


def run(access: str, handovers: int, work: Path, settle: float = 1.0) -> dict[str, Any]:
    """``handovers`` moves of one MN between MAG1 and MAG2; each one's MAG timeline row."""
    dom = build_domain(work, prefix=f"t{access[0]}-", mobile_nodes=1, access=access)
    try:
        dom.associate("mn1", "ap1")
        wait_for(lambda: dom.binding("mn1"), timeout=60, what="mn1 registered")
        dom.wait_address("mn1", timeout=60)
        rows: list[dict[str, Any]] = []
        for i in range(handovers):
            time.sleep(settle)  # the previous MAG's RA burst and the revocation are over
            ap = "ap2" if i % 2 == 0 else "ap1"
            mag = APS[ap]["mag"]
            seen = len(dom.agents[mag].call("timeline"))
            dom.roam("mn1", ap)

            def done(mag=mag, seen=seen):
                row = dom.binding("mn1")
                timeline = dom.agents[mag].call("timeline")
                if not row or row["proxy_coa"] != MAGS[mag] or len(timeline) <= seen:
                    return None
                last = timeline[-1]
                return last if last["total_ms"] is not None else None

            last = wait_for(done, timeout=60, interval=0.05, what=f"handover {i + 1} to {mag}")
            rows.append(
                {"handover": i + 1, "to_mag": mag, "reason": last["reason"]}
                | {p: last[p] for p in PHASES}
            )
            print(
                f"{access}: handover {i + 1}/{handovers} to {mag}: "
                + ", ".join(f"{HEADS[p]} {last[p]:.2f} ms" for p in PHASES),
                file=sys.stderr,
                flush=True,
            )
        return {
            "access": access,
            "kernel": platform.release(),
            "machine": virtualized(),
            "handovers": rows,
        }
    finally:
        dom.close()


# --------------------------------------------------------------------------- report


def medians(data: dict[str, Any]) -> dict[str, float]:
    return {p: statistics.median(r[p] for r in data["handovers"]) for p in PHASES}


def means(data: dict[str, Any]) -> dict[str, float]:
    return {p: statistics.fmean(r[p] for r in data["handovers"]) for p in PHASES}


def podman_table_ii(results: dict[str, Any]) -> dict[str, float]:
    """Averages of the podman lab's scenario-2 handovers (its report's Table II)."""
    rows = [r for r in results["runs"] if r["scenario"] == 2 and r.get("total_ms") is not None]
    return {p: statistics.fmean(r[p] for r in rows) for p in PHASES}


def slowdown(native: dict[str, Any], vm: dict[str, Any]) -> dict[str, float]:
    """Per phase, how many times slower the VM ran the same (emulated-AP) handovers."""
    n, v = medians(native), medians(vm)
    return {p: v[p] / n[p] for p in PHASES}


def report(
    native: dict[str, Any],
    vm_emulated: dict[str, Any],
    vm_hwsim: dict[str, Any],
    podman: dict[str, float] | None = None,
) -> str:
    for data, access, machine in (
        (native, "emulated", "native"),
        (vm_emulated, "emulated", "qemu"),
        (vm_hwsim, "hwsim", "qemu"),
    ):
        if (data["access"], data["machine"]) != (access, machine):
            raise ValueError(
                f"expected {access} on {machine}, got {data['access']} on {data['machine']}"
            )
    factor = slowdown(native, vm_emulated)
    hw = means(vm_hwsim)
    corrected = {p: hw[p] / factor[p] for p in PHASES}
    rows: list[tuple[str, dict[str, float]]] = [
        ("Paper (Table II, MIPL, Aironet)", dict(PAPER_TABLE_II_AVERAGE))
    ]
    if podman is not None:
        rows.append(("podman lab, emulated APs (docs/results)", podman))
    rows += [
        (f"namespaces, emulated APs, this machine ({native['kernel']})", means(native)),
        (f"namespaces, emulated APs, QEMU ({vm_emulated['kernel']})", means(vm_emulated)),
        (f"namespaces, hostapd + wpa_supplicant on hwsim, QEMU ({vm_hwsim['kernel']})", hw),
        ("hwsim ÷ the VM's slowdown (estimate for this machine)", corrected),
    ]

    def cells(values: dict[str, float]) -> str:
        return " | ".join(f"{values[p]:.2f}" for p in PHASES)

    lines = [
        "# Table II on real 802.11 (hostapd, wpa_supplicant, mac80211_hwsim)",
        "",
        "Scenario 2 (shared MAG link-local address and MAC, static tunnels); each handover's "
        "phases from the serving MAG's own timeline; averages in ms "
        f"({len(vm_hwsim['handovers'])} hwsim handovers, {len(vm_emulated['handovers'])} "
        f"emulated in QEMU, {len(native['handovers'])} native).",
        "",
        "| | " + " | ".join(HEADS[p] for p in PHASES) + " |",
        "|---|" + "---:|" * len(PHASES),
        *(f"| {name} | {cells(values)} |" for name, values in rows),
        "",
        "**The VM's slowdown**, median of the emulated-AP handovers in QEMU over the same on "
        "this machine: " + ", ".join(f"{HEADS[p]} ×{factor[p]:.1f}" for p in PHASES) + ". "
        "QEMU runs without KVM here (TCG): every instruction is emulated, so a phase that is "
        "all computation slows by the full factor; a phase that waits on a timer would not.",
        "",
        "**What the layer-2 phase starts at.** With emulated APs, the kernel's arrival of "
        "the AP's syslog datagram at the MAG (as the paper's MAG read its Aironet's "
        "syslog). With hostapd, the MAG's read of hostapd's AP-STA-CONNECTED event on the "
        "control socket, which hostapd sends once the WPA2 4-way handshake is over (an "
        "Aironet logs its DOT11-6-ASSOC then too). The syslog datagram carries the "
        "kernel's arrival time; hostapd's event comes over a Unix socket, which has none, so "
        "its L2 → PBU leaves out the time the event waited to be read: the two L2 columns "
        "are not the same measure, and the estimate's L2 → PBU is the least comparable "
        "figure here. The 802.11 reassociation itself comes before the event; the "
        "stock-kernel test reads Reassociation Request → PBU from its capture.",
        "",
        "Every handover, hwsim in QEMU:",
        "",
        "| # | to | " + " | ".join(HEADS[p] for p in PHASES) + " |",
        "|---:|---|" + "---:|" * len(PHASES),
        *(f"| {r['handover']} | {r['to_mag']} | {cells(r)} |" for r in vm_hwsim["handovers"]),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pmip6d_lab.hwsim_table", description=__doc__.split("\n", maxsplit=1)[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="hand one MN over between the MAGs; write the phases")
    p.add_argument("--access", choices=["emulated", "hwsim"], required=True)
    p.add_argument("--handovers", type=int, default=10)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("report", help="Table II of three runs beside the paper's and podman's")
    p.add_argument("native", type=Path)
    p.add_argument("vm_emulated", type=Path)
    p.add_argument("vm_hwsim", type=Path)
    p.add_argument("--podman", type=Path, help="the podman lab's results.json")
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "run":
        if os.geteuid() != 0:
            parser.error("needs root (network namespaces)")
        if args.handovers < 1:
            parser.error("--handovers: at least 1")
        with tempfile.TemporaryDirectory(prefix=f"pmip6d-table-{args.access}-") as work:
            data = run(args.access, args.handovers, Path(work))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=1) + "\n")
        return 0
    loaded = [
        json.loads(path.read_text()) for path in (args.native, args.vm_emulated, args.vm_hwsim)
    ]
    podman = podman_table_ii(json.loads(args.podman.read_text())) if args.podman else None
    args.out.write_text(report(*loaded, podman=podman))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
