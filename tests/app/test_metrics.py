"""``GET /metrics`` against a scripted session, parsed with prometheus-client's own parser.

N real clients (both wire formats, both transports) each send M acked events, a few of them
errors; one shouts to a room; one raw websocket client stops reading and is cut as a slow
consumer. Every number the script caused is then read back from the exposition.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
import socketio
from prometheus_client.parser import text_string_to_metric_families

from socketsvc.app.factory import SIO
from socketsvc.app.metrics import MAX_CODES, NamespaceLabels, NodeMetrics
from socketsvc.sio.namespaces import Route
from tests import raw_client
from tests.conftest import StartServer, eventually
from tests.security.test_access import eio, slow_consumer

N = 4  # clients: json/msgpack x websocket/polling
M = 5  # acked events per client
SHAPES = [("default", "websocket"), ("msgpack", "websocket"), ("default", "polling"),
          ("msgpack", "polling")]  # fmt: skip
FORMAT = {"default": "json", "msgpack": "msgpack"}


class Scrape:
    """The samples of one scrape, looked up by name and labels."""

    def __init__(self, text: str) -> None:
        self.samples = [s for f in text_string_to_metric_families(text) for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        found = [
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
        return found[0]

    def total(self, name: str, **labels: str) -> float:
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )


async def scrape(url: Any, token: str | None = None) -> Scrape:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/plain; version=")
        return Scrape(await r.text())


@pytest.mark.logs_tracebacks  # the handler that fails on purpose
async def test_metrics_count_a_scripted_session(start_server: StartServer) -> None:
    srv = await start_server(
        max_payload=65_536, max_buffer_bytes=262_144, rate_limit_events=0, auth="none"
    )
    url = srv.make_url("/metrics")
    before = await scrape(url)
    assert before.value("socketsvc_events_received_total", namespace="/test") == 0
    assert before.value("socketsvc_recoveries_total", namespace="/test", outcome="hit") == 0
    clients: list[socketio.AsyncClient] = []
    try:
        for serializer, transport in SHAPES:
            client = socketio.AsyncClient(serializer=serializer)
            clients.append(client)
            await client.connect(
                str(srv.make_url("/")), namespaces=["/test"], transports=[transport],
                wait_timeout=5,
            )  # fmt: skip
        for client in clients:
            for i in range(M):
                assert await client.call("ack-echo", i, namespace="/test", timeout=5) == i
            assert await client.call("enter", "r", namespace="/test", timeout=5)
        boom = await clients[0].call("boom", namespace="/test", timeout=5)
        assert boom["error"]["code"] == "internal"
        refused = await clients[1].call("refuse", namespace="/test", timeout=5)
        assert refused["error"]["code"] == "custom_code"
        await clients[0].call("shout", ("r", "hello"), namespace="/test", timeout=5)
        stranger = socketio.AsyncClient()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await stranger.connect(
                str(srv.make_url("/")), namespaces=["/nope"], wait_timeout=2, retry=False
            )
        await stranger.shutdown()
        await slow_consumer(srv)

        m = await scrape(url)
        events = N * (M + 1) + 3  # ack-echo x M, enter; boom, refuse, shout
        assert m.value("socketsvc_events_received_total", namespace="/test") == events
        assert m.value("socketsvc_acks_sent_total", namespace="/test") == events
        assert m.value("socketsvc_error_acks_total", namespace="/test", code="internal") == 1
        assert m.value("socketsvc_error_acks_total", namespace="/test", code="custom_code") == 1
        assert m.value("socketsvc_handler_seconds_count", namespace="/test") == events
        assert m.value("socketsvc_namespace_connects_total", namespace="/test") == N
        assert m.value("socketsvc_room_joins_total", namespace="/test") == N
        assert m.value("socketsvc_events_emitted_total", namespace="/test") == 1
        assert m.value("socketsvc_event_deliveries_total", namespace="/test") == N - 1
        code = "invalid_namespace"
        assert m.value("socketsvc_namespace_refusals_total", namespace="other", code=code) == 1
        assert m.value("socketsvc_slow_consumer_disconnects_total") == 1
        assert m.value("socketsvc_transports_closed_total", reason="transport error") >= 1
        assert m.value("socketsvc_namespace_clients", namespace="/test") == N
        for serializer, transport in SHAPES:  # live now: the N clients and nobody else
            live = m.value("socketsvc_clients", transport=transport, format=FORMAT[serializer])
            assert live == 1
        assert m.value("socketsvc_rooms", namespace="/test") == 1
        emits = m.total("socketsvc_events_emitted_total")
        assert m.value("socketsvc_broadcast_recipients_count") == emits
        assert m.value("socketsvc_received_bytes_total") > 0
        assert m.value("socketsvc_sent_bytes_total") > m.value("socketsvc_received_bytes_total")
        assert m.value("socketsvc_ready") == 1
    finally:
        for client in clients:
            await client.disconnect()
            await client.shutdown()
    after = await scrape(url)
    assert after.value("socketsvc_namespace_disconnects_total", namespace="/test") == N
    assert after.value("socketsvc_room_leaves_total", namespace="/test") == N
    assert after.total("socketsvc_clients") == 0


async def test_metrics_add_up_over_repeats_and_keep_their_labels_bounded(
    start_server: StartServer,
) -> None:
    """What one of each cannot show: totals add up over several events, emits, upgrades, acks
    and cuts; two namespaces of one route share its label; a client's own sid room is not a
    join; error codes past the first MAX_CODES distinct ones count as ``other``."""
    srv = await start_server(
        max_payload=65_536, max_buffer_bytes=262_144, rate_limit_events=0, auth="none"
    )
    url = srv.make_url("/metrics")
    before = await scrape(url)
    assert before.value("socketsvc_namespace_connects_total", namespace="/") == 0
    # every route's label starts at zero, patterns' too, so that rate() has a start
    assert before.value("socketsvc_events_received_total", namespace="/workspace/*") == 0
    assert before.value("socketsvc_room_joins_total", namespace="/board/*") == 0
    assert before.value("socketsvc_broadcast_recipients_sum") == 0
    assert before.value("socketsvc_transport_upgrades_total") == 0
    for name in ("bus_published", "bus_received", "bus_dropped", "presence_refreshes"):
        assert before.value(f"socketsvc_{name}_total") == 0
    assert before.value("socketsvc_presence_refresh_seconds_total") == 0
    a, b = socketio.AsyncClient(), socketio.AsyncClient()  # polling, then upgraded
    try:
        await a.connect(
            str(srv.make_url("/")), namespaces=["/test", "/slow", "/workspace/a", "/workspace/b"],
            wait_timeout=5,
        )  # fmt: skip
        await b.connect(str(srv.make_url("/")), namespaces=["/test"], wait_timeout=5)
        await eventually(lambda: a.transport() == b.transport() == "websocket")
        assert await a.call("nap", 0.05, namespace="/slow", timeout=5) == "rested"
        assert await a.call("echo", 1, namespace="/slow", timeout=5) == 1
        for ns in ("/workspace/a", "/workspace/b"):
            assert await a.call("where", namespace=ns, timeout=5) == ns
        for room in ("r1", "r2", "r3"):
            await a.call("enter", room, namespace="/test", timeout=5)
        await b.call("enter", "r2", namespace="/test", timeout=5)
        await a.call("exit", "r1", namespace="/test", timeout=5)
        await a.call("shout", ("r2", "to both", True), namespace="/test", timeout=5)
        await a.call("shout", ("r2", "to b"), namespace="/test", timeout=5)
        a.on("question", lambda data: "yes", namespace="/test")
        for _ in range(2):
            assert await a.call("ask", 5, namespace="/test", timeout=5) == {"answer": "yes"}
        # a code that is not a string counts as "unknown", the first code seen here
        assert await b.call("ack-echo", {"error": {"code": 5}}, namespace="/test", timeout=5)
        codes = [f"code_{i:02}" for i in range(MAX_CODES)] + ["code_00"]
        for code in codes:
            reply = await b.call("fail_with", code, namespace="/test", timeout=5)
            assert reply["error"]["code"] == code
        async with aiohttp.ClientSession() as http:
            for _ in range(2):
                foreign = {"Origin": "http://elsewhere.example"}
                async with http.get(eio(srv, transport="polling"), headers=foreign) as r:
                    assert r.status == 403
        m = await scrape(url)
        for _ in range(2):
            await slow_consumer(srv)
        cut = await scrape(url)
    finally:
        for client in (a, b):
            await client.disconnect()
            await client.shutdown()
    assert m.value("socketsvc_transport_upgrades_total") == 2
    assert 0.05 <= m.value("socketsvc_handler_seconds_sum", namespace="/slow") < 5
    assert m.value("socketsvc_handler_seconds_count", namespace="/workspace/*") == 2
    assert m.value("socketsvc_acks_sent_total", namespace="/workspace/*") == 2
    assert m.value("socketsvc_room_joins_total", namespace="/test") == 4
    assert m.value("socketsvc_room_leaves_total", namespace="/test") == 1
    # the shouts (to 2 clients, then to 1), the asks (to 1 each)
    assert m.value("socketsvc_events_emitted_total", namespace="/test") == 4
    assert m.value("socketsvc_event_deliveries_total", namespace="/test") == 5
    assert m.value("socketsvc_broadcast_recipients_sum") == 5
    assert m.value("socketsvc_broadcast_recipients_bucket", le="+Inf") == 4
    assert m.value("socketsvc_acks_received_total", namespace="/test") == 2
    errors = {s.labels["code"]: s.value for s in m.samples if s.name.startswith("socketsvc_error")}
    assert errors["unknown"] == 1 and errors["code_00"] == 2
    assert errors["other"] == 1  # code_63: the first past the bound
    assert "code_63" not in errors and len(errors) == MAX_CODES + 1
    assert m.value("socketsvc_handshakes_refused_total", reason="origin") == 2
    assert cut.value("socketsvc_slow_consumer_disconnects_total") == 2


async def test_metrics_token_and_switch(start_server: StartServer) -> None:
    guarded = await start_server(metrics_token="scrape-me")
    async with aiohttp.ClientSession() as http:
        async with http.get(guarded.make_url("/metrics")) as r:
            assert r.status == 401
            assert (await r.json())["error"]["code"] == "unauthorized"
        bad = {"Authorization": "Bearer nope"}
        async with http.get(guarded.make_url("/metrics"), headers=bad) as r:
            assert r.status == 401
        off = await start_server(metrics=False)
        async with http.get(off.make_url("/metrics")) as r:
            assert r.status == 404
    assert (await scrape(guarded.make_url("/metrics"), "scrape-me")).value("socketsvc_ready") == 1


async def test_metrics_count_recovery_hits_and_misses(start_server: StartServer) -> None:
    srv = await start_server()
    sio = srv.app[SIO]
    async with aiohttp.ClientSession() as http:
        first, hello = await raw_client.join(http, srv, "/recovering", None)
        await first.close()  # the transport drops: its session is kept for recovery
        await eventually(lambda: not sio.manager.is_connected(hello["sid"], "/recovering"))
        back, again = await raw_client.join(http, srv, "/recovering", {"pid": hello["pid"]})
        assert again["sid"] == hello["sid"]  # recovered
        forged, fresh = await raw_client.join(
            http, srv, "/recovering", {"pid": "forged", "offset": "x-1"}
        )
        assert fresh["sid"] != hello["sid"]
        m = await scrape(srv.make_url("/metrics"))
        assert m.value("socketsvc_recoveries_total", namespace="/recovering", outcome="hit") == 1
        assert m.value("socketsvc_recoveries_total", namespace="/recovering", outcome="miss") == 1
        await back.close()
        await forged.close()


async def test_metrics_count_every_frame_and_byte(start_server: StartServer) -> None:
    """The engine's totals are exact: each websocket frame read, each message queued."""
    srv = await start_server(auth="none")
    url = srv.make_url("/metrics")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(eio(srv, transport="websocket"))
        await ws.receive_str()  # the Engine.IO open packet
        await ws.send_str("40/test,")
        assert (await ws.receive_str()).startswith("40/test,")
        before = await scrape(url)
        frames = ['42/test,["echo","no ack"]', '42/test,7["echo","acked"]', "3"]  # 3: a pong
        for frame in frames:
            await ws.send_str(frame)
        assert await ws.receive_str() == '43/test,7["acked"]'
        after = await scrape(url)
        await ws.close()

    def grew(name: str) -> float:
        return after.value(name) - before.value(name)

    assert grew("socketsvc_received_packets_total") == len(frames)
    assert grew("socketsvc_received_bytes_total") == sum(map(len, frames))
    assert grew("socketsvc_sent_messages_total") == 1
    assert grew("socketsvc_sent_bytes_total") == len('3/test,7["acked"]')  # the message part
    assert after.value("socketsvc_events_received_total", namespace="/test") == 2
    assert after.value("socketsvc_acks_sent_total", namespace="/test") == 1


async def test_metrics_count_refused_events_as_error_acks(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Events refused before any handler (over the rate, undecodable data) are error acks,
    not handled events; the undecodable one is logged with its client."""
    srv = await start_server(rate_limit_events=5, rate_limit_burst=5)
    flooder = socketio.AsyncClient(reconnection=False)
    odd = socketio.AsyncClient(serializer="msgpack", reconnection=False)
    try:
        for client in (flooder, odd):
            await client.connect(str(srv.make_url("/")), namespaces=["/test"], wait_timeout=5)
        replies = await asyncio.gather(
            *(flooder.call("echo", i, namespace="/test", timeout=5) for i in range(8))
        )
        limited = sum(1 for r in replies if isinstance(r, dict))
        assert limited >= 1
        with caplog.at_level(logging.INFO, logger="socketsvc.server"):
            bad = await odd.call("echo", {1: "an int key"}, namespace="/test", timeout=5)
        assert bad["error"] == {"code": "invalid_payload", "message": "map keys must be strings"}
        sid, eio_sid = odd.get_sid("/test"), odd.eio.sid
        [record] = [r for r in caplog.records if r.getMessage().startswith("refused event")]
        message = f"refused event from sid={sid} namespace=/test: map keys must be strings"
        assert record.getMessage() == message
        assert (record.sid, record.eio_sid, record.namespace) == (sid, eio_sid, "/test")
        m = await scrape(srv.make_url("/metrics"))
        for _ in range(20):  # keep flooding: disconnected once the debt passes another burst
            if not flooder.connected:
                break
            await flooder.emit("echo", 0, namespace="/test")
        await eventually(lambda: not flooder.connected)
        gone = await scrape(srv.make_url("/metrics"))
    finally:
        for client in (flooder, odd):
            await client.disconnect()
            await client.shutdown()
    handled = 8 - limited
    assert m.value("socketsvc_events_received_total", namespace="/test") == handled
    assert m.value("socketsvc_handler_seconds_count", namespace="/test") == handled
    assert m.value("socketsvc_acks_sent_total", namespace="/test") == handled + limited + 1
    code = "rate_limited"
    assert m.value("socketsvc_error_acks_total", namespace="/test", code=code) == limited
    code = "invalid_payload"
    assert m.value("socketsvc_error_acks_total", namespace="/test", code=code) == 1
    refusals = m.value("socketsvc_rate_limited_events_total", namespace="/test", action="refused")
    assert refusals == limited
    action = "disconnected"
    assert gone.value("socketsvc_rate_limited_events_total", namespace="/test", action=action) == 1


# -- NodeMetrics on its own: what the scripted sessions cannot pin ------------------------------
def node_metrics() -> NodeMetrics:
    routes = [Route("/test", object), Route("/team/*", object)]
    return NodeMetrics(NamespaceLabels(routes, extra=["/admin"]))


def test_labels_are_routes_patterns_extras_or_other() -> None:
    labels = node_metrics().label
    assert [labels(n) for n in ("/test", "/team/a", "/admin", "/", "/team/a/b", "/nope")] == [
        "/test",
        "/team/*",
        "/admin",
        "/",
        "other",
        "other",
    ]
    assert labels.known() == ["/", "/admin", "/team/*", "/test"]


def test_a_value_on_a_bucket_bound_is_counted_in_that_bucket() -> None:
    """Prometheus buckets are ``le``: an observation equal to a bound belongs to it."""
    m = node_metrics()
    m.emitted("/test", "r", None, [], 5)  # 5 is a bound of FANOUT_SIZES
    m.event_handled("/test", 0.001, acked=False, error=None)  # and 0.001 of HANDLER_SECONDS
    fanout = dict(m.fanout.cumulative())
    assert (fanout["2.0"], fanout["5.0"]) == (0, 1)
    handler = dict(m.stats("/test").handler.cumulative())
    assert (handler["0.0005"], handler["0.001"]) == (0, 1)


def test_an_event_that_asked_for_no_ack_counts_no_ack_and_no_error_ack() -> None:
    m = node_metrics()
    m.event_handled("/test", 0.01, acked=False, error="internal")
    m.event_handled("/test", 0.01, acked=True, error="internal")
    assert m.stats("/test").acks == 1
    assert m.error_acks == {("/test", "internal"): 1}


def test_refused_connects_keep_their_labels_bounded() -> None:
    """The codes of refused connects share the MAX_CODES bound (a handler's refusal data can
    carry any code), and the namespace a client asked for is labelled by route or other."""
    m = node_metrics()
    for n in range(MAX_CODES + 3):
        m.namespace_refused(f"/nope{n}", f"code_{n}")
    assert m.refusals[("other", "code_0")] == 1
    assert m.refusals[("other", "other")] == 3
    assert len(m.refusals) == MAX_CODES + 1


def test_totals_add_up() -> None:
    m = node_metrics()
    for seconds in (0.5, 0.25):
        m.presence_refreshed(seconds)
    m.bus_dropped(3)
    m.bus_dropped(2)
    m.bus_published(4)
    m.bus_published(1)
    for _ in range(3):
        m.bus_received()
    for component in ("bus", "presence", "bus"):
        m.backend_down(component)
    m.backend_up("bus", reconnected=False)  # the first connection is no reconnect
    m.backend_up("bus", reconnected=True)
    assert (m.presence_refreshes, m.presence_seconds) == (2, 0.75)
    assert (m.bus_lost, m.bus_out, m.bus_in) == (5, 5, 3)
    assert m.outages == {"bus": 2, "presence": 1}
    assert m.reconnects == {"bus": 1}
