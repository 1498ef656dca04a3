"""The same code, hot and cold: why a lone handover costs more than a benchmark's PBU.

    .venv/bin/python files/pmip6d-lab/bench/bench_cold.py [--samples 100]

A handover in a quiet domain runs each step of the agents once, after the
process has slept or the CPU did something else: the MAG parses one syslog
line, the LMA decides one PBU. The throughput benchmarks (``bench_lma.py``,
``bench_lma_core.py``) run the same code back to back, hot in the CPU's caches
and branch predictors. This script times two of those steps in this process,
sans-IO (no sockets, no kernel), one call at a time:

* ``syslog``: a Cisco ``%DOT11-6-ASSOC`` line through the MAG's syslog listener
  (trust check, parse) to its layer-2 event;
* ``lma handover``: one handover PBU through the LMA's machine (decode,
  admission, binding update, the PBA and the BRI to the previous MAG encoded).

Each is timed after: nothing (back to back, ``hot``); a sleep of 1, 10 and 100
ms; 10 ms of other Python work (a loop over a list of 1,000,000 integers, which
replaces what the caches held). Printed: p50 and p90 in µs, and p50 ÷ hot p50.
Nothing is asserted: this is a measuring tool.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lma_core import hnps_of, make_lma, pbus

from pmip6d.triggers.sources import SyslogListener
from pmip6d.wire.codec import encode

AP = "fd00:a1::2"
_FILLER = list(range(1_000_000))


def syslog_steps(count: int) -> list[Callable[[], object]]:
    listener = SyslogListener({AP: {"name": "ap1"}})
    steps = []
    for i in range(count):
        mac = f"0200.00{i >> 16 & 0xFF:02x}.{i & 0xFFFF:04x}"
        line = (
            f"<190>{i}: *Dec  7 16:25:41.159: %DOT11-6-ASSOC: Interface Dot11Radio0, "
            f"Station MN{i} {mac} Associated KEY_MGMT[NONE]"
        ).encode()
        steps.append(lambda line=line: listener.receive(line, AP))
    return steps


def lma_steps(count: int) -> list[Callable[[], object]]:
    lma = make_lma(16)
    for src, data, at in pbus(count, 16, "register", None, 1):
        lma.receive(src, data, at)
    hnps = hnps_of(lma, count)
    steps = []
    for src, data, _at in pbus(count, 16, "handover", hnps, 2):

        def step(src=src, data=data) -> None:
            for action in lma.receive(src, data, time.time()):
                message = getattr(action, "message", None)
                if message is not None:
                    encode(message)

        steps.append(step)
    return steps


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(_FILLER[::97])


PAUSES: list[tuple[str, Callable[[], None] | None]] = [
    ("hot", None),
    ("sleep 1 ms", lambda: time.sleep(0.001)),
    ("sleep 10 ms", lambda: time.sleep(0.01)),
    ("sleep 100 ms", lambda: time.sleep(0.1)),
    ("10 ms other work", lambda: busy(0.01)),
]


def measure(steps: list[Callable[[], object]], pause: Callable[[], None] | None) -> list[float]:
    out = []
    for step in steps:
        if pause is not None:
            pause()
        t0 = time.perf_counter()
        step()
        out.append((time.perf_counter() - t0) * 1e6)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--samples", type=int, default=100, help="timed calls per pause kind")
    args = parser.parse_args(argv)
    n = args.samples
    print(f"{platform.node()}: {platform.machine()}, Python {platform.python_version()}, "
          f"kernel {platform.release()}")  # fmt: skip
    print(f"{'step':<14} {'after':<18} {'p50 µs':>8} {'p90 µs':>8} {'÷ hot':>7}")
    for name, make in (("syslog", syslog_steps), ("lma handover", lma_steps)):
        steps = make(n * len(PAUSES) + 50)
        for warm in steps[:50]:  # import-time and first-call costs out of the way
            warm()
        gc.collect()
        gc.freeze()
        hot = None
        for i, (label, pause) in enumerate(PAUSES):
            chunk = steps[50 + i * n : 50 + (i + 1) * n]
            times = sorted(measure(chunk, pause))
            p50 = statistics.median(times)
            hot = p50 if hot is None else hot
            p90 = times[int(0.9 * (len(times) - 1))]
            print(f"{name:<14} {label:<18} {p50:8.1f} {p90:8.1f} {p50 / hot:6.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
