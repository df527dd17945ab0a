"""The packet codecs against the protocol's examples, stock python-socketio, and bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from socketio.packet import Packet as StockPacket

from socketsvc.errors import Unencodable
from socketsvc.protocol import JsonPacket, MsgPackPacket, PacketError, encode_frames


@pytest.mark.parametrize(
    "text, kind, nsp, id_, data, attachments",
    [
        ("0", 0, "/", None, None, 0),
        ("0/admin,", 0, "/admin", None, None, 0),
        ('0/admin,{"token":"x"}', 0, "/admin", None, {"token": "x"}, 0),
        ("0/admin?x=1,", 0, "/admin", None, None, 0),
        ("1/admin,", 1, "/admin", None, None, 0),
        ('2["hello",1]', 2, "/", None, ["hello", 1], 0),
        ('2/admin,456["project:delete",123]', 2, "/admin", 456, ["project:delete", 123], 0),
        ('3/admin,456["ok"]', 3, "/admin", 456, ["ok"], 0),
        (
            '51-["hello",{"_placeholder":true,"num":0}]',
            5,
            "/",
            None,
            ["hello", {"_placeholder": True, "num": 0}],
            1,
        ),
        (
            '61-/admin,456[{"_placeholder":true,"num":0}]',
            6,
            "/admin",
            456,
            [{"_placeholder": True, "num": 0}],
            1,
        ),
    ],
)
def test_json_decoding_matches_the_protocol_examples(
    text: str, kind: int, nsp: str, id_: int | None, data: Any, attachments: int
) -> None:
    pkt = JsonPacket(encoded_packet=text)
    assert (pkt.packet_type, pkt.namespace, pkt.id, pkt.data) == (kind, nsp, id_, data)
    assert pkt.attachment_count == attachments
    stock = StockPacket(encoded_packet=text)
    assert (stock.packet_type, stock.namespace or "/", stock.id, stock.data) == (
        kind,
        nsp,
        id_,
        data,
    )


EVENT_SHAPE = "EVENT payload must be an array starting with the event name"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("7", "expected a Socket.IO text packet"),
        ("x", "expected a Socket.IO text packet"),
        ("4abc", "malformed JSON: ValueError"),
        ("42{}", "clients may not send CONNECT_ERROR"),
        ('42abc["x"]', "malformed JSON: ValueError"),
        ("2[1]", EVENT_SHAPE),
        ("2[]", EVENT_SHAPE),
        ("2/chat", EVENT_SHAPE),
        ('3["no id"]', "ACK needs an id and an array payload"),
        ("3/chat,5{}", "ACK needs an id and an array payload"),
        ('0"token"', "CONNECT payload must be an object"),
        ("5[]", "binary packet without an attachment count"),
        ('5x-["a"]', "binary packet without an attachment count"),
        ('51001-["a"]', "too many attachments"),
        ("2" + "[" * 100_000, "malformed JSON: RecursionError"),
        ('2["a",NaN]', "NaN is not valid JSON"),
        ("2" + "1" * 17 + '["a"]', "ack id too long"),
        ('2["x"', "malformed JSON: JSONDecodeError"),
        ('2["e"]x', "malformed JSON: ValueError"),  # extra data after the value
        ("", "expected a Socket.IO text packet"),
        ("X", "expected a Socket.IO text packet"),
        (b'2["e"]', "expected a Socket.IO text packet"),  # bytes are msgpack's
        ("5" + "1" * 11 + '-["a"]', "binary packet without an attachment count"),  # 12 chars
        ("5" + "1" * 12 + '-["a"]', "binary packet without an attachment count"),
    ],
)
def test_json_decoding_rejects_invalid_packets(text: Any, problem: str) -> None:
    with pytest.raises(PacketError) as info:
        JsonPacket.parse(text)  # as the server's packet reader decodes
    assert str(info.value) == problem  # what the server's log line says about the packet


def test_json_decoding_accepts_whitespace_after_the_value_and_checks_placeholders() -> None:
    assert JsonPacket(encoded_packet='2/chat,["e"] \n').data == ["e"]
    bare = JsonPacket.parse("1/admin")  # a namespace up to the end: no comma needed
    assert (bare.packet_type, bare.namespace, bare.data) == (1, "/admin", None)
    assert JsonPacket.parse('51000-["e"]').attachment_count == 1000  # the most allowed
    pkt = JsonPacket(encoded_packet='51-["e",{"_placeholder":true,"num":9}]')
    with pytest.raises(PacketError) as info:
        pkt.add_attachment(b"x")
    assert str(info.value) == "illegal attachment placeholder num 9"  # as socket.io-parser


def test_the_json_module_python_socketio_is_given_is_strict() -> None:
    """JsonPacket.json is what python-socketio's own code calls for JSON (pub/sub messages,
    stock packets): the same strict, compact codec as socketsvc's packets."""
    assert JsonPacket.json.loads(b'{"a": [1, "\xc3\xa9"]}') == {"a": [1, "é"]}
    assert JsonPacket.json.loads('["x"] ') == ["x"]
    for bad in ("NaN", "[1] [2]", ""):
        with pytest.raises(ValueError):
            JsonPacket.json.loads(bad)
    assert JsonPacket.json.dumps({"a": ["é", None]}, separators=(",", ":")) == '{"a":["é",null]}'


@pytest.mark.parametrize("pad", range(34))
def test_integers_beyond_2_53_are_refused_wherever_they_sit_in_the_text(pad: int) -> None:
    """The check for long digit runs samples every 16th character; an unsafe integer is found
    at every offset, a 16-digit safe one passes (with and without binary attachments)."""
    unsafe, safe = 2**53 + 1, 2**53 - 1  # 17 and 16 digits
    with pytest.raises(Unencodable, match="integer 9007199254740993 is beyond 2\\*\\*53"):
        encode_frames(JsonPacket, 2, "/chat", ["e", "x" * pad, unsafe])
    assert encode_frames(JsonPacket, 2, "/chat", ["e", "x" * pad, safe]) == [
        f'2/chat,["e","{"x" * pad}",{safe}]'
    ]
    with pytest.raises(Unencodable, match="integer 9007199254740993"):
        encode_frames(JsonPacket, 2, "/", ["e", "x" * pad, b"\x00", {"n": unsafe}])


def test_json_packets_name_what_json_clients_cannot_take() -> None:
    with pytest.raises(Unencodable) as info:
        encode_frames(JsonPacket, 3, "/", [b"\x00", float("nan")], 1)
    assert info.value.message == (
        "cannot send to json clients unchanged: NaN and Infinity have no JSON form"
    )
    with pytest.raises(Unencodable) as info:
        JsonPacket(2, data=["e", -(2**60)]).encode()  # no attachments: the text alone
    assert info.value.message == (
        "cannot send to json clients unchanged: integer -1152921504606846976 is beyond "
        "2**53 and would be rounded"
    )
    assert JsonPacket(2, data=["e", 2**53 - 1]).encode() == '2["e",9007199254740991]'


@pytest.mark.parametrize("cls", [JsonPacket, MsgPackPacket])
def test_ack_ids_from_zero_to_the_largest_a_js_client_can_count(cls: Any) -> None:
    for pid in (0, 2**53 - 1):
        if cls is JsonPacket:
            pkt = cls(encoded_packet=f'2/chat,{pid}["e"]')
        else:
            pkt = cls(
                encoded_packet=msgpack.packb({"type": 2, "nsp": "/", "data": ["e"], "id": pid})
            )
        assert pkt.id == pid
    with pytest.raises(PacketError) as info:
        MsgPackPacket(
            encoded_packet=msgpack.packb({"type": 2, "nsp": "/", "data": ["e"], "id": 2**53})
        )
    assert str(info.value) == "ack id must be a non-negative integer"


@pytest.mark.parametrize(
    "kind, nsp, data, id_",
    [
        (2, "/", ["e", {"a": [1, None, True]}], None),
        (2, "/chat", ["e", "ünï ✓"], 7),
        (3, "/chat", [], 8),
        (0, "/chat", {"sid": "abc"}, None),
        (1, "/chat", None, None),
        (2, "/chat", ["bin", b"\x00\xff", {"nested": b"x"}], 9),
    ],
)
def test_json_encoding_agrees_with_stock_python_socketio(
    kind: int, nsp: str, data: Any, id_: int | None
) -> None:
    ours = encode_frames(JsonPacket, kind, nsp, data, id_)
    stock = StockPacket(kind, data=data, namespace=nsp, id=id_).encode()
    stock = stock if isinstance(stock, list) else [stock]
    assert ours[1:] == stock[1:]  # binary attachments
    # Same packet; ours keeps non-ASCII text as UTF-8 where stock writes \u escapes.
    assert StockPacket(encoded_packet=ours[0]).data == StockPacket(encoded_packet=stock[0]).data
    assert ours[0].split("[", 1)[0] == stock[0].split("[", 1)[0]


def test_msgpack_encoding_omits_absent_data_and_id() -> None:
    (frame,) = encode_frames(MsgPackPacket, 1, "/chat", None)
    assert msgpack.unpackb(frame) == {"type": 1, "nsp": "/chat"}
    (frame,) = encode_frames(MsgPackPacket, 3, "/", ["ok", b"\x01"], 5)
    assert msgpack.unpackb(frame) == {"type": 3, "nsp": "/", "data": ["ok", b"\x01"], "id": 5}


NAMESPACE_SHAPE = "namespace must be a string starting with '/'"


@pytest.mark.parametrize(
    ("packet", "problem"),
    [
        ({"type": 2, "nsp": 1, "data": ["e"]}, NAMESPACE_SHAPE),
        ({"type": 2, "data": ["e"]}, NAMESPACE_SHAPE),
        ({"type": 2, "nsp": "chat", "data": ["e"]}, NAMESPACE_SHAPE),
        ({"type": 2, "nsp": "/", "data": "e"}, EVENT_SHAPE),
        ({"type": 0, "nsp": "/", "data": "token"}, "CONNECT payload must be an object"),
        ({"type": 3, "nsp": "/", "data": []}, "ACK needs an id and an array payload"),
        ({"type": 4, "nsp": "/", "data": {}}, "clients may not send CONNECT_ERROR"),
        ({"type": 5, "nsp": "/", "data": ["e"]}, "binary packet types are not used with msgpack"),
        ({"type": 2, "nsp": "/", "data": ["e"], "id": -1}, "ack id must be a non-negative integer"),
        (
            {"type": 2, "nsp": "/", "data": ["e"], "id": "1"},
            "ack id must be a non-negative integer",
        ),
        ({"type": 7, "nsp": "/"}, "unknown packet type"),
        ({"type": -1, "nsp": "/"}, "unknown packet type"),
        ({"type": "2", "nsp": "/", "data": ["e"]}, "unknown packet type"),
        (["not", "a", "map"], "msgpack packet must be a map"),
    ],
)
def test_msgpack_decoding_rejects_invalid_packets(packet: Any, problem: str) -> None:
    with pytest.raises(PacketError) as info:
        MsgPackPacket(encoded_packet=msgpack.packb(packet))
    assert str(info.value) == problem


def test_js_undefined_is_absent_in_objects_and_null_in_arrays() -> None:
    undefined = msgpack.ExtType(0, b"\x00")
    raw = msgpack.packb(
        {"type": 0, "nsp": "/", "data": {"token": "t", "gone": undefined, "list": [undefined]}}
    )
    assert MsgPackPacket(encoded_packet=raw).data == {"token": "t", "list": [None]}
    nested = [1, undefined, {"x": undefined, "y": [undefined, 2]}, [undefined]]
    raw = msgpack.packb({"type": 2, "nsp": "/", "data": ["e", nested]})
    pkt = MsgPackPacket.parse(raw)
    assert pkt.data == ["e", [1, None, {"y": [None, 2]}, [None]]]
    assert (pkt.problem, pkt.attachment_count) == (None, 0)


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is not UTC for the duration of the test."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_from_utc")  # dates are UTC whatever the machine's zone
def test_notepack_dates_and_array_buffers_arrive_as_json_clients_would_send_them() -> None:
    def ext(payload: bytes) -> Any:
        raw = msgpack.packb({"type": 2, "nsp": "/", "data": ["e", msgpack.ExtType(0, payload)]})
        return MsgPackPacket.parse(raw).data[1]

    def date(millis: int) -> bytes:  # notepack: ms since the epoch as two 32-bit halves
        return (millis // 2**32).to_bytes(4, "big", signed=True) + (millis % 2**32).to_bytes(
            4, "big"
        )

    assert ext(date(1_700_000_000_123)) == "2023-11-14T22:13:20.123Z"
    assert ext(date(2**40 + 7)) == "2004-11-03T19:53:47.783Z"  # the high half counts
    assert ext(date(-1)) == "1969-12-31T23:59:59.999Z"
    assert ext(b"abc") == b"abc"  # an ArrayBuffer from Node
    assert ext(b"123456789") == b"123456789"


def test_values_without_a_js_form_in_a_connects_auth_arrive_as_null() -> None:
    auth = {"token": "t", "odd": msgpack.ExtType(5, b"a"), "when": msgpack.Timestamp(1, 0)}
    pkt = MsgPackPacket.parse(msgpack.packb({"type": 0, "nsp": "/", "data": auth}))
    assert pkt.data == {"token": "t", "odd": None, "when": None}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\xc1", "malformed msgpack: FormatError"),
        (b"\x81\xa4type", "malformed msgpack: ValueError"),
        (b"\x92\x01\x02\x03", "malformed msgpack: ExtraData"),
        ("2[]", "expected a binary msgpack packet"),
    ],
)
def test_msgpack_garbage_is_refused_with_its_kind(raw: Any, problem: str) -> None:
    with pytest.raises(PacketError) as info:
        MsgPackPacket.parse(raw)
    assert str(info.value) == problem


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (msgpack.ExtType(5, b"ab"), "msgpack extension type 5 is not supported"),
        (msgpack.Timestamp(1, 0), "msgpack extension type -1 is not supported"),
        ({1: "one"}, "map keys must be strings"),
    ],
)
def test_msgpack_values_without_a_js_form_keep_the_packet_for_an_error_ack(
    extra: Any, problem: str
) -> None:
    raw = msgpack.packb({"type": 2, "nsp": "/x", "data": ["e", [extra], -1, 255], "id": 9})
    pkt = MsgPackPacket.parse(raw)
    assert (pkt.problem, pkt.id, pkt.namespace, pkt.data[0]) == (problem, 9, "/x", "e")
    plain = MsgPackPacket.parse(msgpack.packb({"type": 2, "nsp": "/", "data": ["e", -1, 255]}))
    assert (plain.problem, plain.data) == (None, ["e", -1, 255])  # 0xFF bytes, no Timestamp


def test_msgpack_packets_python_socketio_builds_follow_the_js_parser() -> None:
    assert msgpack.unpackb(MsgPackPacket(1, namespace="/chat").encode()) == {
        "type": 1,
        "nsp": "/chat",
    }  # DISCONNECT without data: the JS decoder refuses data: nil
    assert msgpack.unpackb(MsgPackPacket(3, data=["a"], id=0).encode()) == {
        "type": 3,
        "nsp": "/",
        "data": ["a"],
        "id": 0,
    }
    with pytest.raises(Unencodable) as info:
        MsgPackPacket(2, data=["e", 2**64]).encode()
    assert (
        info.value.message == "cannot send to msgpack clients unchanged: Integer value out of range"
    )


def test_binary_packet_types_from_python_socketio_are_sent_in_each_format() -> None:
    """python-socketio gives its own packets with bytes the BINARY_* types; each format
    re-derives the type from the data (JSON: binary again, msgpack: the plain type)."""
    holder = '{"_placeholder":true,"num":0}'
    assert encode_frames(JsonPacket, 5, "/chat", ["e", b"x"]) == [f'51-/chat,["e",{holder}]', b"x"]
    for kind in (3, 6):
        assert encode_frames(JsonPacket, kind, "/chat", [b"x"], 7) == [
            f"61-/chat,7[{holder}]",
            b"x",
        ]
        (frame,) = encode_frames(MsgPackPacket, kind, "/chat", [b"x"], 7)
        assert msgpack.unpackb(frame) == {"type": 3, "nsp": "/chat", "data": [b"x"], "id": 7}
    (frame,) = encode_frames(MsgPackPacket, 5, "/", ["e", b"x"])
    assert msgpack.unpackb(frame) == {"type": 2, "nsp": "/", "data": ["e", b"x"]}


def test_unencodable_values_name_the_format_and_reason() -> None:
    for cls, value, message in (
        (
            JsonPacket,
            float("inf"),
            "cannot send to json clients unchanged: NaN and Infinity have no JSON form",
        ),
        (
            MsgPackPacket,
            2**64,
            "cannot send to msgpack clients unchanged: Integer value out of range",
        ),
    ):
        with pytest.raises(Unencodable) as info:
            encode_frames(cls, 2, "/", ["e", value])
        assert info.value.message == message
    with pytest.raises(Unencodable, match="json clients unchanged: integer"):
        encode_frames(JsonPacket, 2, "/", ["e", [2**53]])
    with pytest.raises(Unencodable, match="NaN"):
        encode_frames(JsonPacket, 2, "/", ["e", float("inf")])
    with pytest.raises(Unencodable, match="msgpack clients unchanged"):
        encode_frames(MsgPackPacket, 2, "/", ["e", 2**64])
    assert encode_frames(JsonPacket, 2, "/", ["e", 2**53 - 1]) == ['2["e",9007199254740991]']
    assert encode_frames(JsonPacket, 2, "/", ["e", "12345678901234567890"])


@pytest.mark.parametrize("text", ['2/chat,5["e",1]', '51-["b",{"_placeholder":true,"num":0}]', "0"])
def test_parse_builds_the_same_packet_as_the_constructor(text: str) -> None:
    parsed, built = JsonPacket.parse(text), JsonPacket(encoded_packet=text)
    for field in ("packet_type", "namespace", "id", "data", "attachment_count", "attachments"):
        assert getattr(parsed, field) == getattr(built, field), field
    raw = msgpack.packb({"type": 2, "nsp": "/x", "data": ["e", b"\x00"], "id": 3})
    parsed, built = MsgPackPacket.parse(raw), MsgPackPacket(encoded_packet=raw)
    for field in ("packet_type", "namespace", "id", "data", "attachment_count", "problem"):
        assert getattr(parsed, field) == getattr(built, field), field


def test_lone_surrogates_are_escaped_for_json_as_json_stringify_writes_them() -> None:
    # JSON.stringify('a\udfffb') === '"a\\udfffb"'; valid text, astral planes included, is kept
    frames = encode_frames(JsonPacket, 2, "/", ["a\udfffb", {"\ud800": "zoë 😀"}])
    assert frames == ['2["a\\udfffb",{"\\ud800":"zoë 😀"}]']
    assert frames[0].encode()  # the text has a UTF-8 form
    with pytest.raises(Unencodable, match="msgpack clients unchanged: strings must be valid"):
        encode_frames(MsgPackPacket, 2, "/", ["a\udfffb"])


def test_data_nested_too_deeply_to_encode_is_unencodable_in_both_formats() -> None:
    deep: Any = [2**60]  # the digits make the JSON path walk the data for its integer check
    for _ in range(100_000):
        deep = [deep]
    for cls in (JsonPacket, MsgPackPacket):
        with pytest.raises(Unencodable, match="nested too deeply"):
            encode_frames(cls, 2, "/", ["x", deep])


@pytest.mark.parametrize("num", ["-1", "1", "true", '"0"', "1.5", "null", "2e0"])
def test_a_placeholder_must_index_an_attachment(num: str) -> None:
    pkt = JsonPacket.parse('51-["x",{"_placeholder":true,"num":' + num + "}]")
    with pytest.raises(PacketError, match="illegal attachment placeholder"):
        pkt.add_attachment(b"\x01")


def test_nesting_past_the_stack_is_a_packet_error_wherever_decoding_meets_it() -> None:
    holder = "[" * 3000 + '{"_placeholder":true,"num":0}' + "]" * 3000
    with pytest.raises(PacketError):  # too deep to parse (3.11) or to reconstruct (3.12+)
        JsonPacket.parse('51-["x",' + holder + "]").add_attachment(b"\x01")
    undefined = b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1x" + b"\x91" * 1020 + b"\xd4\x00\x00"
    with pytest.raises(PacketError, match="nested too deeply"):
        MsgPackPacket.parse(undefined)
