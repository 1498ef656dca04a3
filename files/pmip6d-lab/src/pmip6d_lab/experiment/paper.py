"""What the seed paper reports, as the report and the figures compare against it.

Copied from the paper's text: Table II (scenario 2, ten handovers, in ms) and what
it says of the UDP handover latency and the TCP stall per scenario (Figs. 7–10).
"""

from __future__ import annotations

PAPER_TABLE_II: dict[str, list[float]] = {
    "l2_to_pbu_ms": [9.2, 4, 3.2, 4.2, 4.2, 5.2, 6.3, 5.2, 5, 3],
    "pbu_to_pba_ms": [0.7, 4.1, 4.1, 0.7, 0.7, 0.7, 4.1, 4.2, 4.1, 0.8],
    "pba_to_ra_ms": [4.6, 4.7, 10.4, 4.6, 4.7, 4.8, 10.2, 9.9, 10.9, 4.7],
    "total_ms": [14.5, 12.8, 17.7, 9.5, 9.6, 10.7, 20.6, 19.3, 20, 8.5],
}
PAPER_TABLE_II_AVERAGE = {
    "l2_to_pbu_ms": 4.95,
    "pbu_to_pba_ms": 2.42,
    "pba_to_ra_ms": 6.95,
    "total_ms": 14.32,
}
PAPER_UDP = {
    1: "in average higher than 40 ms (Fig. 7)",
    2: "never exceeds 40 ms (Fig. 7)",
    3: "mainly the same as scenario 2 (Fig. 10)",
}
PAPER_TCP = {
    1: "higher than 100 s (Fig. 8)",
    2: "around 0.5 s (Fig. 9)",
    3: "not reported",
}
