"""The agent's Prometheus endpoint: ``GET /metrics`` in the text exposition format.

Off unless the configuration has ``metrics`` (config.MetricsConfig). What it shows is
read from the agent at each scrape, on the event loop (so a scrape sees one
consistent state and needs no lock):

* ``pmip6d_info{role,name,address}``; ``pmip6d_bindings`` (LMA: binding cache
  entries; MAG: active binding update list entries);
* ``pmip6d_pbu_total`` / ``pmip6d_pba_total`` ``{direction}``, ``pmip6d_rejects_total{status}``,
  ``pmip6d_pbu_retransmissions_total`` (MAG), ``pmip6d_handoffs_total`` (LMA);
* ``pmip6d_tunnel_peers`` (tunnels installed now); ``pmip6d_dropped_total{reason}``
  (what ``pmipctl status`` lists as dropped, triggers ignored or refused included);
* ``pmip6d_handover_phase_seconds{phase}``: histogram of every handover since the
  start (MAG: Table II's phases; LMA: its share of PBU→PBA, see ``pmipctl timeline``);
* ``pmip6d_events_total{event}``: every counter of ``pmipctl counters``, by its name.

The text comes from ``prometheus_client`` (one custom collector in a registry of its
own). The HTTP side is a minimal responder on the agent's asyncio loop, made for an
endpoint on a management address: GET only, a request head of at most 8 KiB sent
within 5 s, one answer per connection, a bounded number of clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .timeline import BUCKETS_MS

log = logging.getLogger("pmip6d.metrics")

HEAD_LIMIT = 8192
HEAD_TIMEOUT = 5.0


class AgentCollector:
    """Turns an agent's counters, status and timeline into metric families."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        agent = self.agent
        counters = agent.counters()
        status = agent.status()
        role = agent.role
        info = GaugeMetricFamily(
            "pmip6d_info", "The agent: role, name and address.", labels=["role", "name", "address"]
        )
        info.add_metric([role, str(agent.config.name), str(status.get("address", ""))], 1)
        yield info
        bound = status.get("bindings") if role == "lma" else status.get("active")
        yield GaugeMetricFamily(
            "pmip6d_bindings",
            "Bindings now: the LMA's cache entries, the MAG's active entries.",
            value=bound or 0,
        )
        pbu = CounterMetricFamily("pmip6d_pbu", "PBUs.", labels=["direction"])
        pba = CounterMetricFamily("pmip6d_pba", "PBAs.", labels=["direction"])
        for direction in ("sent", "received"):
            pbu.add_metric([direction], counters.get(f"pbu_{direction}", 0))
            pba.add_metric([direction], counters.get(f"pba_{direction}", 0))
        yield pbu
        yield pba
        rejects = CounterMetricFamily(
            "pmip6d_rejects", "Rejected PBUs (LMA) or PBAs (MAG) by status.", labels=["status"]
        )
        for name, value in counters.items():
            if name.startswith("rejected."):
                rejects.add_metric([name.removeprefix("rejected.")], value)
        yield rejects
        yield CounterMetricFamily(
            "pmip6d_pbu_retransmissions",
            "PBUs sent again for want of a PBA (MAG).",
            value=counters.get("pbu_retransmitted", 0),
        )
        yield CounterMetricFamily(
            "pmip6d_handoffs",
            "Bindings moved to another MAG (LMA).",
            value=counters.get("handoffs", 0),
        )
        tunnels = (status.get("dataplane") or {}).get("tunnels") or []
        yield GaugeMetricFamily(
            "pmip6d_tunnel_peers",
            "Tunnel peers installed now.",
            value=sum(1 for t in tunnels if t.get("installed")),
        )
        dropped = CounterMetricFamily(
            "pmip6d_dropped", "Input dropped or ignored, by reason.", labels=["reason"]
        )
        for reason, value in (status.get("dropped") or {}).items():
            dropped.add_metric([reason], value)
        yield dropped
        yield self._histogram()
        events = CounterMetricFamily(
            "pmip6d_events", "Every counter of `pmipctl counters`.", labels=["event"]
        )
        for name, value in counters.items():
            events.add_metric([name], value)
        yield events

    def _histogram(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "pmip6d_handover_phase_seconds",
            "Handover phases since the start (see pmipctl timeline).",
            labels=["phase"],
        )
        histogram = self.agent.timeline.histogram
        bounds = [f"{b / 1000:g}" for b in BUCKETS_MS] + ["+Inf"]
        for phase in histogram.phases:
            counts = histogram.buckets[phase] + [histogram.count[phase]]
            family.add_metric(
                [phase],
                list(zip(bounds, counts, strict=True)),
                histogram.sum_ms[phase] / 1000,
            )
        return family


class MetricsServer:
    """``GET /metrics`` over HTTP/1.1 on the agent's loop; see the module doc."""

    def __init__(self, agent: Any, address: str, port: int, max_clients: int = 16) -> None:
        self.address = address
        self.port = port
        self.max_clients = max_clients
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(AgentCollector(agent))
        self.counters: Counter[str] = Counter()
        self._clients = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, host=self.address, port=self.port, limit=HEAD_LIMIT
        )
        log.info("metrics on http://[%s]:%d/metrics", self.address, self.bound_port)

    @property
    def bound_port(self) -> int:
        """The port listened on (the real one when configured as 0)."""
        if self._server is None or not self._server.sockets:
            return self.port
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._clients >= self.max_clients:
            self.counters["refused_busy"] += 1
            writer.close()
            return
        self._clients += 1
        try:
            status, body, content_type = await self._answer(reader)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n"
            )
            if status.startswith("405"):
                head += "Allow: GET\r\n"
            writer.write(head.encode() + b"\r\n" + body)
            await writer.drain()
        except (ConnectionError, OSError):
            self.counters["client_errors"] += 1
        finally:
            self._clients -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[str, bytes, str]:
        text = "text/plain; charset=utf-8"
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            self.counters["bad_requests"] += 1
            return "400 Bad Request", b"bad request\n", text
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            self.counters["bad_requests"] += 1
            return "400 Bad Request", b"bad request\n", text
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method != b"GET":
            self.counters["bad_requests"] += 1
            return "405 Method Not Allowed", b"GET only\n", text
        if target != b"/metrics":
            self.counters["not_found"] += 1
            return "404 Not Found", b"try /metrics\n", text
        self.counters["scrapes"] += 1
        return "200 OK", generate_latest(self.registry), CONTENT_TYPE_LATEST
