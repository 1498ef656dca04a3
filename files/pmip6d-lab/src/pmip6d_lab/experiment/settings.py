"""What an experiment is asked: the traffic and timing :class:`Settings`, and the
``settings.json`` beside the runs that records them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

Progress = Callable[[str], None]
"""Where the runners report progress, one line at a time."""


@dataclass
class Settings:
    udp_rate_bps: int = 1_000_000
    udp_length: int = 125
    """iperf3 UDP payload octets: 125 at 1 Mbit/s is one datagram per millisecond."""
    tcp_rate_bps: int = 20_000_000
    """Pacing rate of the TCP sender (``iperf3 --fq-rate``), about an 802.11g link's."""
    before_s: float = 1.0
    """Traffic before the move."""
    udp_after_s: float = 1.5
    udp_uplink: bool = True
    """Also a UDP stream MN → CN, at the same rate, through the same handover: the direction
    that depends on the MN's default router (scenario 1's old router is gone)."""
    tcp_after_s: float = 3.0
    """Observation after the move: the cap on what a stall can be measured as."""
    grace_s: float = 0.5
    """How long iperf3 may take past its end before it is interrupted."""
    snaplen: int = 256
    port: int = 5201
    """The iperf3 server's port; in a run of kind both the UDP one, TCP's is the next."""
    roam: str = "inline"
    settle_s: float = 0.3
    """Pause between runs (lets periodic RAs and timers of the previous run pass)."""
    long_runs: int = 0
    """Scenario 1 to the end: this many more runs of scenario 1 (numbered after the
    others) observed ``long_after_s`` after the move, so that the stall the paper saw
    (> 100 s) is measured to its end, not cut at ``tcp_after_s``."""
    long_after_s: float = 160.0
    long_udp_rate_bps: int = 200_000
    """A long run's streams: one 125-octet datagram every 5 ms each way (the captures of
    160 s stay small; the latency's resolution is 5 ms, enough for a stall of seconds)."""
    long_tcp_rate_bps: int = 2_000_000
    long_observation: bool = False
    """Set by :meth:`for_run` on the settings of a long run (recorded in its meta.json)."""

    def is_long(self, scenario: int, run: int, runs: int) -> bool:
        return scenario == 1 and runs < run <= runs + self.long_runs

    def runs_of(self, scenario: int, runs: int) -> int:
        """How many runs ``scenario`` has: ``runs``, and scenario 1 the long ones after."""
        return runs + (self.long_runs if scenario == 1 else 0)

    def for_run(self, scenario: int, run: int, runs: int) -> Settings:
        """The settings of one run: a long run's observation and rates, or these."""
        if not self.is_long(scenario, run, runs):
            return self
        return replace(
            self,
            udp_after_s=self.long_after_s,
            tcp_after_s=self.long_after_s,
            udp_rate_bps=self.long_udp_rate_bps,
            tcp_rate_bps=self.long_tcp_rate_bps,
            # The MN's own datagrams to its old router would end the stall sooner (any
            # frame waiting on the failed entry makes the kernel choose the route anew):
            # the stall measured is TCP's own, as in the paper's TCP test.
            udp_uplink=False,
            long_observation=True,
        )


class LabMismatch(RuntimeError):
    """The lab is not configured the way the scenario needs (nothing was measured)."""


def write_settings(out: Path, runs: int, scenarios, kinds, s: Settings, **extra: Any) -> None:
    (out / "settings.json").write_text(
        json.dumps(
            {
                "runs": runs,
                "scenarios": list(scenarios),
                "kinds": list(kinds),
                **asdict(s),
                **extra,
            },
            indent=1,
        )
        + "\n"
    )
