"""The packet codecs against the protocol's examples, stock python-socketio, and bad input."""

from __future__ import annotations

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


@pytest.mark.parametrize(
    "text",
    [
        "7",
        "x",
        "4abc",
        "42{}",
        '42abc["x"]',
        "2[1]",
        "2[]",
        '3["no id"]',
        "5[]",
        '5x-["a"]',
        "2" + "[" * 100_000,
        '2["a",NaN]',
        "2" + "1" * 17 + '["a"]',
        '2["x"',
    ],
)
def test_json_decoding_rejects_invalid_packets(text: str) -> None:
    with pytest.raises(PacketError):
        JsonPacket(encoded_packet=text)


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


@pytest.mark.parametrize(
    "packet",
    [
        {"type": 2, "nsp": 1, "data": ["e"]},
        {"type": 2, "nsp": "/", "data": "e"},
        {"type": 0, "nsp": "/", "data": "token"},
        {"type": 3, "nsp": "/", "data": []},
        {"type": 5, "nsp": "/", "data": ["e"]},
        {"type": 2, "nsp": "/", "data": ["e"], "id": -1},
        {"type": 2, "nsp": "/", "data": ["e"], "id": 2**60},
        {"type": "2", "nsp": "/", "data": ["e"]},
        ["not", "a", "map"],
    ],
)
def test_msgpack_decoding_rejects_invalid_packets(packet: Any) -> None:
    with pytest.raises(PacketError):
        MsgPackPacket(encoded_packet=msgpack.packb(packet))


def test_js_undefined_is_absent_in_objects_and_null_in_arrays() -> None:
    undefined = msgpack.ExtType(0, b"\x00")
    raw = msgpack.packb(
        {"type": 0, "nsp": "/", "data": {"token": "t", "gone": undefined, "list": [undefined]}}
    )
    assert MsgPackPacket(encoded_packet=raw).data == {"token": "t", "list": [None]}


def test_unencodable_values_name_the_format_and_reason() -> None:
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
