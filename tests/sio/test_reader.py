"""The packet reader's shortcut for events reads exactly what the general decoders read.

The usual event (``2[/nsp,][id][...]`` in JSON, a map of type 2 in msgpack) is read without a
packet object; every other input goes through ``JsonPacket``/``MsgPackPacket``. Whatever the
input, the outcome must be the one the general decoder gives: the same namespace, ack id,
data and problem for an event, the same packet otherwise, the same error for invalid input.
"""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from socketsvc.protocol import EVENT, JsonPacket, MsgPackPacket, PacketError
from socketsvc.sio.reader import PacketReader

SID = "eio-sid"


def through_reader(first: str | bytes, data: str | bytes) -> tuple[Any, ...]:
    events: list[tuple[Any, ...]] = []
    reader = PacketReader(
        ("json", "msgpack"),
        1_000_000,
        lambda eio_sid, namespace: True,
        lambda *event: events.append(event),
    )
    reader.read(SID, first)  # the CONNECT that tells the connection's wire format
    try:
        pkt = reader.read(SID, data)
    except PacketError as exc:
        return ("error", str(exc))
    if events:
        (_, namespace, id, args, problem) = events[0]
        return ("event", namespace, id, args, problem)
    return ("packet", pkt.packet_type, pkt.namespace, pkt.id, pkt.data)


def through_decoder(cls: type[JsonPacket] | type[MsgPackPacket], data: str | bytes) -> Any:
    """What the general decoder makes of ``data``, as the reader reports it."""
    try:
        pkt = cls.parse(data)
    except PacketError as exc:
        return ("error", str(exc))
    except Exception as exc:  # the reader's wording for any other decoding failure
        return ("error", f"undecodable ({type(exc).__name__})")
    if pkt.packet_type == EVENT:
        return ("event", pkt.namespace, pkt.id, pkt.data, pkt.problem)
    return ("packet", pkt.packet_type, pkt.namespace, pkt.id, pkt.data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
namespaces = st.sampled_from(["", "/", "/chat", "/a?b=1", "/x/y", "/é", "chat", "/[", "/n,"])
ids = st.sampled_from(["", "0", "7", "0012", "9007199254740991", "9007199254740992", "1" * 17])
bodies = st.one_of(
    st.lists(json_values, max_size=4).map(lambda v: __import__("json").dumps(v)),
    st.sampled_from(['["e"]', "[]", "[1]", '["e",', '["e"] ', '["e"]x', "[NaN]", '"e"', "{}"]),
    st.text(alphabet='[]{}",:0123456789e\\ud', max_size=12),
)


@settings(max_examples=600, deadline=None)
@given(kind=st.sampled_from("2222013"), namespace=namespaces, id=ids, body=bodies)
def test_json_events_read_as_the_decoder_reads_them(
    kind: str, namespace: str, id: str, body: str
) -> None:
    text = kind + (namespace + "," if namespace else "") + id + body
    assert through_reader("0", text) == through_decoder(JsonPacket, text), text


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from([2, 2, 2, 0, 1, 3, 5, "2", None]),
    namespace=st.sampled_from(["/", "/chat", "", "chat", None, 5]),
    id=st.sampled_from([None, 0, 7, 2**53 - 1, 2**53, -1, True, "3"]),
    data=st.one_of(
        st.lists(json_values, max_size=3),
        st.sampled_from([["e"], [], [1], "e", {"a": 1}, None]),
    ),
    undefined=st.booleans(),
)
def test_msgpack_events_read_as_the_decoder_reads_them(
    kind: Any, namespace: Any, id: Any, data: Any, undefined: bool
) -> None:
    packet: dict[str, Any] = {"type": kind, "nsp": namespace, "data": data}
    if id is not None:
        packet["id"] = id
    if undefined and isinstance(data, list):  # JS undefined inside: stripped, or a problem
        packet["data"] = [*data, {"gone": msgpack.ExtType(0, b"\x00")}]
    raw = msgpack.packb(packet)
    first = msgpack.packb({"type": 0, "nsp": "/"})
    assert through_reader(first, raw) == through_decoder(MsgPackPacket, raw), packet


def test_the_usual_json_event_is_read_with_its_namespace_and_id() -> None:
    assert through_reader("0", '2/chat,12["say",{"a":1}]') == (
        "event",
        "/chat",
        12,
        ["say", {"a": 1}],
        None,
    )
    assert through_reader("0", '2["ping"]') == ("event", "/", None, ["ping"], None)


def test_an_event_text_on_a_msgpack_connection_is_refused() -> None:
    first = msgpack.packb({"type": 0, "nsp": "/"})
    assert through_reader(first, '2["e"]') == ("error", "expected a binary msgpack packet")
