"""Throughput through the RFC 5213 tunnel, per backend, against the same path without a tunnel.

Run as root with the project's virtualenv (needs iperf3)::

    /work/main/.venv/bin/python files/pmip6d-lab/bench/bench_tunnel.py [--seconds 5] [--json F]

Topology, in network namespaces of its own (removed at the end, also on an
error or Ctrl-C)::

    CN ── LMA ══ core bridge ══ MAG ── MN        (veths; MTU 1500 everywhere)

For the **baseline** the same namespaces and links carry plain IPv6 routing:
the LMA routes the MN's prefix to the MAG's core address, the MAG routes the
rest to the LMA. Then, for **every backend this kernel offers** (ip6tnl,
seg6, ebpf), the LMA and MAG data planes install the tunnel exactly as the
agents do (``RouteToMag`` at the LMA, ``ServeMobileNode`` at the MAG) and the
same measurements run again. Each row is iperf3 between CN and MN in one
direction: TCP (the bulk rate; the tunnel costs 40 bytes of every 1500 and
the path MTU shrinks accordingly), and UDP with 1200-byte datagrams at
unlimited rate (what arrives, and the loss). ``ratio`` is against the
baseline row measured in the same run. Nothing is asserted: this prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This checkout's agent and lab (files/pmip6d, files/pmip6d-lab), not installed copies.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "pmip6d" / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pmip6d.actions import MobileNodeBinding, RouteToMag, ServeMobileNode
from pmip6d.dataplane import Channel, Kernel, LmaDataplane, MagDataplane, Ownership, probe
from pmip6d.wire.prefix import Prefix
from pmip6d_lab.netlab import Namespace, NetLab

LMAA, PCOA = "2001:db8:c::1", "2001:db8:c::11"
CN, MN = "2001:db8:e::2", "2001:db8:100:1::2"
HNP = Prefix.parse("2001:db8:100:1::/64")
MN_MAC = "02:00:00:00:01:01"


def build(lab: NetLab) -> dict[str, Namespace]:
    ns = {name: lab.ns(name) for name in ("sw", "lma", "mag", "cn", "mn")}
    lab.bridge(ns["sw"], "core")
    for role, address in (("lma", LMAA), ("mag", PCOA)):
        lab.veth(ns[role], "core0", ns["sw"], f"p-{role}")
        lab.enslave(ns["sw"], f"p-{role}", "core")
        ns[role].addr("core0", f"{address}/64")
        ns[role].sysctl("net.ipv6.conf.all.forwarding", "1")
    lab.veth(ns["cn"], "eth0", ns["lma"], "cn0")
    ns["cn"].addr("eth0", f"{CN}/64")
    ns["lma"].addr("cn0", "2001:db8:e::1/64")
    ns["cn"].run("ip", "-6", "route", "add", "default", "via", "2001:db8:e::1")
    lab.veth(ns["mn"], "eth0", ns["mag"], "acc0")
    ns["mag"].run("ip", "link", "set", "acc0", "address", "02:50:4d:49:50:36")
    ns["mag"].addr("acc0", "fe80::1/64")
    ns["mn"].run("ip", "link", "set", "eth0", "address", MN_MAC)
    ns["mn"].addr("eth0", f"{MN}/64")
    ns["mn"].run("ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0")
    return ns


@contextlib.contextmanager
def plain_routing(ns: dict[str, Namespace]):
    """The same path, routed without a tunnel."""
    ns["lma"].run("ip", "-6", "route", "add", str(HNP), "via", PCOA, "dev", "core0")
    ns["mag"].run("ip", "-6", "route", "add", str(HNP), "dev", "acc0")
    ns["mag"].run("ip", "-6", "route", "add", "default", "via", LMAA, "dev", "core0")
    try:
        yield "no tunnel"
    finally:
        ns["lma"].run("ip", "-6", "route", "del", str(HNP), "via", PCOA, "dev", "core0")
        ns["mag"].run("ip", "-6", "route", "del", str(HNP), "dev", "acc0")
        ns["mag"].run("ip", "-6", "route", "del", "default", "via", LMAA, "dev", "core0")


@contextlib.contextmanager
def tunnelled(ns: dict[str, Namespace], backend: str):
    """The LMA and MAG data planes of the agents, with ``backend``."""
    lma = LmaDataplane(backend, LMAA, "core0", netns=ns["lma"].name, mode="static", peers=[PCOA])
    mag = MagDataplane(
        backend, PCOA, "core0", ["acc0"], netns=ns["mag"].name, mode="static", peers=[LMAA]
    )
    lma.start()
    try:
        mag.start()
        try:
            lma(RouteToMag(b"mn@bench", (HNP,), PCOA))
            lma.flush()
            mac = bytes.fromhex(MN_MAC.replace(":", ""))
            binding = MobileNodeBinding(b"mn@bench", mac, (HNP,), LMAA, None, 600, "acc0")
            mag(ServeMobileNode(binding))
            yield f"{lma.backend.name} tunnel"
        finally:
            mag.close()
    finally:
        lma.close()


def iperf(ns: dict[str, Namespace], udp: bool, reverse: bool, seconds: float) -> dict:
    quiet = subprocess.DEVNULL
    server = ns["mn"].popen("iperf3", "-s", "-1", "-B", MN, stdout=quiet, stderr=quiet)
    try:
        time.sleep(0.3)
        args = ["iperf3", "-c", MN, "-J", "-t", str(seconds), "-O", "1"]
        if udp:
            args += ["-u", "-b", "0", "-l", "1200"]
        if reverse:
            args.append("-R")
        done = ns["cn"].run(*args, timeout=seconds + 30)
        result = json.loads(done.stdout)
    finally:
        server.kill()
        server.wait()
    end = result["end"]
    if udp:
        return {"mbit_s": end["sum"]["bits_per_second"] / 1e6, "loss": end["sum"]["lost_percent"]}
    return {"mbit_s": end["sum_received"]["bits_per_second"] / 1e6, "loss": None}


def offered(ns: Namespace) -> list[str]:
    with Channel(ns.name) as channel:
        kernel = Kernel(channel, Ownership())
        return probe.report(kernel, kernel.link_index("core0")).usable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per iperf3 run")
    parser.add_argument("--backends", nargs="*", help="default: every backend the kernel offers")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates network namespaces")
    flows = [
        ("TCP", False, False, "CN → MN"),
        ("TCP", False, True, "MN → CN"),
        ("UDP", True, False, "CN → MN"),
        ("UDP", True, True, "MN → CN"),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        lab = NetLab(Path(work), prefix=f"tb{os.getpid() % 10000}-")
        try:
            ns = build(lab)
            backends = args.backends or offered(ns["lma"])
            print(f"kernel {os.uname().release}; backends offered: {', '.join(backends)}")
            paths = [lambda: plain_routing(ns)] + [(lambda b=b: tunnelled(ns, b)) for b in backends]
            baseline: dict[str, float] = {}
            for path in paths:
                with path() as label:
                    for proto, udp, reverse, direction in flows:
                        result = iperf(ns, udp, reverse, args.seconds)
                        key = f"{proto} {direction}"
                        baseline.setdefault(key, result["mbit_s"])
                        rows.append(
                            {
                                "path": label,
                                "flow": key,
                                **result,
                                "ratio": result["mbit_s"] / baseline[key],
                            }
                        )
        finally:
            lab.close()
    print(f"{'path':14} {'flow':14} {'Mbit/s':>9} {'loss %':>7} {'ratio':>6}")
    for r in rows:
        loss = f"{r['loss']:7.2f}" if r["loss"] is not None else f"{'':7}"
        print(f"{r['path']:14} {r['flow']:14} {r['mbit_s']:9.0f} {loss} {r['ratio']:6.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
