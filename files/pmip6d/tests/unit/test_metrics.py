"""The agents' Prometheus endpoint: what it exposes and how it answers (no agent process)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pmip6d.actions import ServeMobileNode
from pmip6d.config import ConfigError, MagConfig, validate
from pmip6d.daemon.metrics import HEAD_LIMIT, MetricsServer
from pmip6d.daemon.timeline import Timeline
from pmip6d.wire.messages import ProxyBindingUpdate

MAC = bytes.fromhex("020000000101")


def fake_mag() -> SimpleNamespace:
    """What the endpoint reads of an agent: role, config name, counters, status, timeline."""
    timeline = Timeline()
    for start, total in ((10.0, 0.0009), (20.0, 0.004)):  # two handovers: 0.9 ms and 4 ms
        timeline.layer2(MAC, start, "Reassociated", read_at=start)
        pbu = ProxyBindingUpdate(1, 10, mn_id=b"mn1", mn_link_layer_id=MAC)
        timeline.message_sent(pbu, start + total / 4)
        timeline.message_handled([ServeMobileNode(SimpleNamespace(mac=MAC))], start + total / 2)
        timeline.ra_sent(MAC, start + total)
    counters = {
        "pbu_sent": 7,
        "pba_received": 6,
        "pbu_retransmitted": 1,
        "rejected.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX": 2,
        "trigger.cisco-syslog@fd00:a1::1:514.untrusted_source": 3,
    }
    status = {
        "address": "2001:db8:ffff::11",
        "active": 1,
        "dataplane": {"tunnels": [{"installed": True}, {"installed": False}]},
        "dropped": {"trigger.cisco-syslog@fd00:a1::1:514.untrusted_source": 3},
    }
    return SimpleNamespace(
        role="mag",
        config=SimpleNamespace(name="mag1"),
        counters=lambda: counters,
        status=lambda: status,
        timeline=timeline,
    )


async def request(port: int, raw: bytes) -> tuple[str, bytes]:
    reader, writer = await asyncio.open_connection("::1", port)
    writer.write(raw)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _sep, body = answer.partition(b"\r\n\r\n")
    return head.decode().split("\r\n")[0], body


def exchange(raws: list[bytes]) -> tuple[list[tuple[str, bytes]], MetricsServer]:
    async def main():
        server = MetricsServer(fake_mag(), "::1", 0)
        await server.start()
        try:
            return [await request(server.bound_port, raw) for raw in raws], server
        finally:
            await server.close()

    return asyncio.run(main())


def test_the_endpoint_exposes_counters_bindings_tunnels_drops_and_phase_histograms():
    [(status, body)], server = exchange([b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"])
    assert status == "HTTP/1.1 200 OK"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert samples[("pmip6d_info", (("address", "2001:db8:ffff::11"), ("name", "mag1"),
                                    ("role", "mag")))] == 1  # fmt: skip
    assert samples[("pmip6d_bindings", ())] == 1
    assert samples[("pmip6d_pbu_total", (("direction", "sent"),))] == 7
    assert samples[("pmip6d_pba_total", (("direction", "received"),))] == 6
    assert samples[("pmip6d_pbu_retransmissions_total", ())] == 1
    status_label = (("status", "NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX"),)
    assert samples[("pmip6d_rejects_total", status_label)] == 2
    assert samples[("pmip6d_tunnel_peers", ())] == 1
    reason = (("reason", "trigger.cisco-syslog@fd00:a1::1:514.untrusted_source"),)
    assert samples[("pmip6d_dropped_total", reason)] == 3
    assert samples[("pmip6d_events_total", (("event", "pbu_sent"),))] == 7

    def total(le: str) -> float:
        return samples[("pmip6d_handover_phase_seconds_bucket", (("le", le), ("phase", "total")))]

    assert (total("0.0005"), total("0.001"), total("0.003"), total("0.005"), total("+Inf")) == (
        0, 1, 1, 2, 2,
    )  # fmt: skip
    assert samples[("pmip6d_handover_phase_seconds_count", (("phase", "total"),))] == 2
    assert samples[("pmip6d_handover_phase_seconds_sum", (("phase", "total"),))] == pytest.approx(
        0.0049
    )
    assert server.counters["scrapes"] == 1


def test_only_get_metrics_is_answered():
    answers, server = exchange(
        [
            b"GET / HTTP/1.1\r\n\r\n",
            b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            b"GET /metrics\r\n\r\n",  # no protocol version
            b"GET /metrics HTTP/1.1\r\nX: " + b"a" * HEAD_LIMIT + b"\r\n\r\n",  # head too long
            b"GET /metrics?name[]=x HTTP/1.0\r\n\r\n",  # a query is ignored
        ]
    )
    assert [status for status, _body in answers] == [
        "HTTP/1.1 404 Not Found",
        "HTTP/1.1 405 Method Not Allowed",
        "HTTP/1.1 400 Bad Request",
        "HTTP/1.1 400 Bad Request",
        "HTTP/1.1 200 OK",
    ]
    assert server.counters == {"not_found": 1, "bad_requests": 3, "scrapes": 1}


def test_a_client_that_sends_nothing_is_dropped_and_the_endpoint_goes_on(monkeypatch):
    from pmip6d.daemon import metrics

    monkeypatch.setattr(metrics, "HEAD_TIMEOUT", 0.2)

    async def main():
        server = MetricsServer(fake_mag(), "::1", 0)
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("::1", server.bound_port)
            silent = (await reader.read()).split(b"\r\n")[0]
            writer.close()
            return silent, await request(server.bound_port, b"GET /metrics HTTP/1.1\r\n\r\n")
        finally:
            await server.close()

    silent, (status, _body) = asyncio.run(main())
    assert silent == b"HTTP/1.1 400 Bad Request" and status == "HTTP/1.1 200 OK"


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({"address": "::"}, "listens on every interface"),
        ({"address": "mag1.example"}, "is not an IP address"),
        ({"address": "::1", "port": 70000}, "less than or equal to 65535"),
    ],
)
def test_a_bad_metrics_setting_names_the_field(tmp_path, metrics, message):
    doc = {"name": "mag1", "policy": str(tmp_path / "policy.yml"), "metrics": metrics}
    with pytest.raises(ConfigError) as caught:
        validate(tmp_path / "mag.yml", MagConfig, doc)
    assert "mag.yml: metrics" in str(caught.value) and message in str(caught.value)


def test_metrics_are_off_unless_configured_and_a_wildcard_can_be_asked_for(tmp_path):
    doc = {"name": "mag1", "policy": str(tmp_path / "policy.yml")}
    assert validate(tmp_path / "mag.yml", MagConfig, doc).metrics is None
    doc["metrics"] = {"address": "::", "listen_any": True}
    settings = validate(tmp_path / "mag.yml", MagConfig, doc).metrics
    assert (settings.address, settings.port) == ("::", 9461)
