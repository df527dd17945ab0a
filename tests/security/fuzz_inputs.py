"""What the fuzzer sends: Hypothesis strategies for hostile Engine.IO / Socket.IO input.

A hostile session (``session``) is a transport, an optional valid namespace CONNECT first (so
deeper packet paths are reached), a list of frames, and for polling what the HTTP requests
themselves do wrong. A frame is a ``str`` (text frame / polling packet), ``bytes`` (binary frame
/ base64 polling packet), a :class:`Raw` text frame whose bytes are not valid UTF-8, a
:class:`Big` oversized frame, or a :class:`Binary` packet: its head and its attachments.

The classes: unknown packet types, truncated packets, bad JSON and msgpack, wrong attachment
counts and placeholder numbers (negative, huge, non-integer, missing), negative and huge ack ids,
nesting up to 10^5 in both formats (around a placeholder or a msgpack ``undefined`` too), huge
numbers, invalid UTF-8, lone UTF-16 surrogates in every string position (names, rooms, event
names, payloads, namespace names, auth), oversized frames; overlapping, aborted and trickled
polling requests and duplicate polls; raw connections that stall in their headers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgpack
from hypothesis import strategies as st

MAX_PAYLOAD = 32_768

# A lone surrogate is valid JSON ("\udfff") and a valid JS string, but not valid Unicode.
LONE_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "a\udfffb", "\udfff\ud800"]
# msgpack carries strings as UTF-8; a surrogate can only be smuggled in as its (invalid) bytes.
SURROGATE_PACKER = msgpack.Packer(unicode_errors="surrogatepass")


@dataclass(frozen=True)
class Big:
    """An oversized frame, kept small in Hypothesis' reports."""

    binary: bool

    def frame(self) -> str | bytes:
        return b"\x00" * (MAX_PAYLOAD + 10) if self.binary else "4" + "x" * (MAX_PAYLOAD + 10)


class Long:
    """A frame too long to print whole (deep nesting): Hypothesis reports its start."""

    __slots__ = ("value",)

    def __init__(self, value: str | bytes) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Long({self.value[:60]!r} + {len(self.value) - 60} more)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' printer
        printer.text(repr(self))


def compact(frame: Any) -> Any:
    return Long(frame) if isinstance(frame, str | bytes) and len(frame) > 2000 else frame


@dataclass(frozen=True)
class Raw:
    """A text frame (or polling body) whose bytes are not valid UTF-8."""

    data: bytes


@dataclass(frozen=True)
class Binary:
    """A JSON-format binary packet: its text head, then its attachments as binary frames."""

    head: str
    attachments: tuple[bytes, ...]

    def __repr__(self) -> str:
        return f"Binary({compact(self.head)!r}, {self.attachments!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' printer
        printer.text(repr(self))


# -- values ------------------------------------------------------------------------------------
hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(LONE_SURROGATES),
    st.builds(lambda a, b: a + b, st.text(max_size=5), st.sampled_from(LONE_SURROGATES)),
)
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=12,
)
namespaces = st.sampled_from(
    ["/chat", "/test", "/", "/nope", "/workspace/a", "", "chat", "/\x00", "/\\udfff"]
)
events = st.one_of(
    st.sampled_from(
        [
            "join",
            "message",
            "typing",
            "leave",
            "members",
            "echo",
            "ack-echo",
            "point",
            "relay",
            "boom",
            "_private",
            "connect",
            "disconnect",
            "x" * 100,
        ]
    ),
    st.sampled_from(LONE_SURROGATES),
)
ack_ids = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=100),
    st.sampled_from([-1, 2**53, 2**53 - 1, 2**64, 10**100]),
)
# /chat requests aimed at the room the watching clients are in, names and rooms hostile too
rooms = st.one_of(st.just("watch"), st.just("watch"), hostile_text)
chat_request = st.one_of(
    st.tuples(st.just("join"), st.fixed_dictionaries({"room": rooms, "name": hostile_text})),
    st.tuples(st.just("message"), st.fixed_dictionaries({"room": rooms, "text": hostile_text})),
    st.tuples(
        st.sampled_from(["members", "typing", "leave"]), st.fixed_dictionaries({"room": rooms})
    ),
    st.tuples(
        st.just("point"),
        st.fixed_dictionaries({"x": json_leaf, "y": json_leaf, "label": hostile_text}),
    ),
)
placeholder_nums = st.sampled_from(
    [0, 1, 2, -1, -(2**63), 2**64, 10**100, 1.5, 0.0, "0", True, False, None, "missing"]
)


def placeholder(num: Any) -> str:
    if num == "missing":
        return '{"_placeholder":true}'
    return '{"_placeholder":true,"num":' + json.dumps(num) + "}"


def dumps(value: Any) -> str:
    """JSON as a JS client writes it: lone surrogates as \\u escapes (ensure_ascii)."""
    return json.dumps(value)


# -- JSON-format packets -----------------------------------------------------------------------
@st.composite
def deep_json(draw: st.DrawFn) -> str:
    depth = draw(st.sampled_from([50, 500, 990, 5000, 100_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    return opener * depth + "1" + closer * depth


@st.composite
def huge_number(draw: st.DrawFn) -> str:
    return draw(
        st.sampled_from(
            [
                "1" * 5000,
                "1e999999",
                "-1e-99999",
                "123456789012345678901234",
                "NaN",
                "Infinity",
                "-0",
                "1.5e308",
            ]
        )
    )


@st.composite
def sio_json_packet(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from([*"0123456", "7", "9", "a", "-", ""]))
    attachments = draw(
        st.one_of(
            st.just(""), st.sampled_from(["0-", "1-", "2-", "-1-", "999999-", "1001-", "x-", "1"])
        )
    )
    ns = draw(namespaces)
    ns_part = "" if ns in ("/", "") else ns + ","
    pid = draw(ack_ids)
    body = draw(
        st.one_of(
            st.builds(lambda e, a: dumps([e, *a]), events, st.lists(json_value, max_size=3)),
            json_value.map(dumps),
            deep_json(),
            huge_number().map(lambda n: f'["echo",{n}]'),
            st.just('[{"_placeholder":true,"num":0}]'),
            st.just('["echo",{"_placeholder":true,"num":99}]'),
            st.just('["echo",{"_placeholder":true,"num":"0"}]'),
            st.text(max_size=30),
        )
    )
    text = kind + attachments + ns_part + ("" if pid is None else str(pid)) + body
    if draw(st.booleans()):
        text = text[: draw(st.integers(min_value=0, max_value=max(len(text) - 1, 0)))]
    return text


@st.composite
def event_packet(draw: st.DrawFn) -> str:
    """A well-formed EVENT for a namespace a session joined, hostile inside."""
    ns = draw(st.sampled_from(["/chat", "/test"]))
    pid = draw(ack_ids)
    if draw(st.booleans()):
        event, payload = draw(chat_request)
        body = dumps([event, payload])
    else:
        body = dumps([draw(events), *draw(st.lists(json_value, max_size=3))])
    tail = draw(st.one_of(st.just(""), huge_number(), deep_json()))
    if tail:
        body = body[:-1] + "," + tail + "]"
    return "42" + ns + "," + ("" if pid is None else str(pid)) + body


@st.composite
def binary_packet(draw: st.DrawFn) -> Binary:
    """A BINARY_EVENT: declared and sent attachment counts that may disagree, placeholders
    with any ``num``, possibly buried deep in nested arrays."""
    ns = draw(st.sampled_from(["/chat", "/test"]))
    declared = draw(st.integers(0, 3))
    sent = draw(st.integers(0, 4))
    nums = draw(st.lists(placeholder_nums, max_size=3))
    holders = [placeholder(n) for n in nums]
    depth = draw(st.sampled_from([0, 0, 10, 600, 990, 5000, 100_000]))
    if holders and depth:
        holders[0] = "[" * depth + holders[0] + "]" * depth
    pid = draw(ack_ids)
    body = "[" + ",".join([dumps(draw(events)), *holders]) + "]"
    head = f"45{declared}-{ns}," + ("" if pid is None else str(pid)) + body
    return Binary(head, tuple(bytes([i]) * (i + 1) for i in range(sent)))


def eio_text(sio: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """An Engine.IO text packet: mostly MESSAGE carrying Socket.IO, sometimes other types."""
    return st.one_of(
        sio.map(lambda p: "4" + p),
        sio.map(lambda p: "4" + p),
        st.sampled_from(
            [
                "",
                "2",
                "3",
                "5",
                "6",
                "0",
                "1",
                "7",
                "x",
                "2probe",
                "4",
                "b",
                "bAAA=",
                "b!!!",
                "40",
                "41",
                "44/chat,{}",
                "4" * 3,
            ]
        ),
        st.text(max_size=20),
    )


# -- msgpack-format packets --------------------------------------------------------------------
def pack(value: Any) -> bytes:
    """msgpack bytes, lone surrogates smuggled in as their UTF-8-like bytes."""
    try:
        return bytes(SURROGATE_PACKER.pack(value))
    except (OverflowError, TypeError, ValueError):
        SURROGATE_PACKER.reset()
        return b"\xc1"


@st.composite
def sio_msgpack_packet(draw: st.DrawFn) -> bytes:
    packet: dict[Any, Any] = {}
    if draw(st.booleans()):
        packet["type"] = draw(st.one_of(st.integers(-3, 9), st.text(max_size=3), st.none()))
    else:
        packet["type"] = draw(st.integers(0, 3))
    packet["nsp"] = draw(st.one_of(namespaces, st.sampled_from(LONE_SURROGATES), st.integers()))
    if draw(st.booleans()):
        packet["data"] = draw(
            st.one_of(
                st.builds(lambda e, a: [e, *a], events, st.lists(json_value, max_size=3)),
                json_value,
                st.binary(max_size=20),
            )
        )
    if draw(st.booleans()):
        packet["id"] = draw(st.one_of(ack_ids, st.text(max_size=3), st.floats()))
    if draw(st.booleans()):
        packet[draw(st.one_of(st.integers(), st.binary(max_size=3)))] = 1
    raw = pack(packet)
    variant = draw(st.sampled_from(["whole", "cut", "ext", "junk", "deep", "deep-undefined"]))
    if variant == "cut":
        raw = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    elif variant == "ext":
        raw = msgpack.packb(
            packet
            | {
                "data": [
                    "echo",
                    msgpack.ExtType(draw(st.integers(0, 127)), b"\x00" * draw(st.integers(0, 9))),
                ]
            },
            default=str,
            unicode_errors="surrogatepass",
        )
    elif variant == "junk":
        raw = draw(st.binary(min_size=1, max_size=40))
    elif variant in ("deep", "deep-undefined"):
        depth = draw(st.sampled_from([100, 900, 1020, 1024, 1025, 10_000, 100_000]))
        opener = draw(st.sampled_from([b"\x91", b"\x81\xa1a"]))  # [x] or {"a": x}
        bottom = b"\xd4\x00\x00" if variant == "deep-undefined" else b"\xc0"
        raw = (
            b"\x84\xa4type\x02\xa3nsp\xa5/chat\xa2id\x01\xa4data\x92\xa4echo"
            + opener * depth
            + bottom
        )
    return raw


@st.composite
def msgpack_event(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        event, payload = draw(chat_request)
        data = [event, payload]
    else:
        data = [draw(events), *draw(st.lists(json_value, max_size=3))]
    packet: dict[str, Any] = {"type": 2, "nsp": "/chat", "data": data}
    pid = draw(ack_ids)
    if pid is not None:
        packet["id"] = pid
    return pack(packet)


# -- sessions ----------------------------------------------------------------------------------
frames = st.one_of(
    event_packet().map(compact),
    binary_packet(),
    msgpack_event(),
    eio_text(sio_json_packet()).map(compact),
    sio_msgpack_packet().map(compact),
    st.binary(min_size=1, max_size=30),
    st.just(Raw(b"\xff\xfe\xfd")),  # invalid UTF-8 as a text frame / polling body
    st.just(Raw(b"40/\xed\xbf\xbf,")),  # a namespace holding a UTF-8-encoded surrogate
    st.builds(Big, st.booleans()),  # oversized text or binary frame
)
# What the HTTP requests of a polling session do: send each frame in a POST ("plain"), or
# also overlap a POST with one still sending its body, break a POST off mid-body, trickle a
# body past body_timeout, or poll twice at once.
polling_requests = st.sampled_from(["plain", "plain", "overlap", "abort", "trickle", "double-poll"])
connect_to = st.one_of(
    st.sampled_from([None, "/chat", "/test", "/chat-msgpack"]),
    st.fixed_dictionaries({"namespace": st.just("/chat"), "auth": json_value}),
)
session = st.one_of(
    st.fixed_dictionaries(
        {
            "transport": st.just("websocket"),
            "connect": connect_to,
            "frames": st.lists(frames, min_size=1, max_size=6),
        }
    ),
    st.fixed_dictionaries(
        {
            "transport": st.just("polling"),
            "connect": connect_to,
            "frames": st.lists(frames, min_size=1, max_size=6),
            "requests": polling_requests,
        }
    ),
    # a raw connection that sends the start of a request (or junk) and stalls: slowloris
    st.fixed_dictionaries(
        {
            "transport": st.just("raw"),
            "bytes": st.one_of(
                st.sampled_from(
                    [
                        b"",
                        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n",
                        b"POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n",
                        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab",
                    ]
                ),
                st.binary(max_size=40),
            ),
        }
    ),
)
batch = st.lists(session, min_size=1, max_size=3)


def connect_frame(target: Any) -> str | bytes | None:
    """The namespace CONNECT a session starts with (valid, except what ``auth`` holds)."""
    if target is None:
        return None
    if isinstance(target, dict):
        return f"40{target['namespace']}," + dumps(target["auth"])
    if target == "/chat-msgpack":
        return msgpack.packb({"type": 0, "nsp": "/chat"})
    return f"40{target},"


def prelude(target: Any) -> list[str | bytes]:
    """The valid frames a session starts with: its namespace CONNECT and, in ``/chat``, a
    join, so that rooms and presence hold the session until the server closes it."""
    first = connect_frame(target)
    if first is None:
        return []
    if target == "/chat-msgpack":
        join = {"type": 2, "nsp": "/chat", "id": 1, "data": ["join", {"room": "fuzz", "name": "f"}]}
        return [first, msgpack.packb(join)]
    if target == "/chat":
        return [first, '42/chat,1["join",{"room":"fuzz","name":"f"}]']
    return [first]


# Text frames invalid whatever came before them (no namespace joined yet, a JSON or msgpack
# session, attachments awaited): each must close its sender at once. Every websocket and
# polling session ends with one, unless the server closed it already.
CLOSERS = (
    "x",  # Engine.IO: unknown packet type
    "2",  # Engine.IO: a PING from the client (only the server pings)
    "49",  # Socket.IO: unknown packet type
    "42/chat,{",  # Socket.IO: malformed JSON
    "44/chat,{}",  # Socket.IO: clients may not send CONNECT_ERROR
    '42/nope,["message"]',  # Socket.IO: an event for a namespace it is not connected to
    Raw(b"\xff\xfe\xfd"),  # not UTF-8
)
closers = st.lists(st.sampled_from(CLOSERS), min_size=3, max_size=3)  # one per session
