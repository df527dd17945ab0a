"""Server→client events declared on a handler class (``ServerEvent[T]``): the class table,
the mistakes refused when the class is defined, emit/call through a declaration on a real
server, and mypy checking payloads against the declared type."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import sys
from pathlib import Path
from typing import Any, TypedDict

import pytest

from socketsvc.handlers import BaseNamespace, HandlerError, ServerEvent
from tests.conftest import TEST_NAMESPACES, ConnectTo, StartServer

ROOT = Path(__file__).resolve().parents[2]


class Tick(TypedDict):
    n: int


class Declared(BaseNamespace):
    tick = ServerEvent[Tick](doc="one tick")
    pair = ServerEvent[tuple[str, int]]("pair:sent")

    async def on_start(self, sid: str, count: int) -> int:
        for n in range(count):
            await self.emit(self.tick, {"n": n}, to=sid)
        await self.emit(self.pair, ("done", count), to=sid, volatile=True)
        answer: int = await self.call(self.tick, {"n": -1}, to=sid, timeout=5)
        return answer


def test_declarations_are_listed_by_event_name_with_their_payload_types() -> None:
    assert set(Declared.server_events) == {"tick", "pair:sent"}
    tick = Declared.server_events["tick"]
    assert (tick.name, tick.attr, tick.doc, tick.payload) == ("tick", "tick", "one tick", Tick)
    assert Declared.server_events["pair:sent"].payload == tuple[str, int]

    class Sub(Declared):
        tick = ServerEvent[int]("tock")  # overrides the attribute: its old name goes

    assert set(Sub.server_events) == {"tock", "pair:sent"}
    assert ServerEvent().payload is Any  # not subscripted: anything


@pytest.mark.parametrize(
    "body, message",
    [
        ("connect = ServerEvent[int]()", "Bad.connect: 'connect' cannot be an event name"),
        ("x = ServerEvent[int]('has space')", "Bad.x: 'has space' cannot be an event name"),
        (
            "a = ServerEvent[int]('same')\n    b = ServerEvent[str]('same')",
            "Bad.b: event 'same' is also declared by a",
        ),
        (
            "emit = ServerEvent[int]()",
            "Bad.emit: a ServerEvent would hide BaseNamespace.emit: name the attribute otherwise "
            "and give the event name, ServerEvent[...]('emit')",
        ),
    ],
)
def test_mistakes_in_declarations_stop_the_class(body: str, message: str) -> None:
    source = f"class Bad(BaseNamespace):\n    {body}\n"
    with pytest.raises(HandlerError) as caught:
        exec(source, {"BaseNamespace": BaseNamespace, "ServerEvent": ServerEvent})
    assert str(caught.value) == message


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
async def test_emit_and_call_through_a_declaration_reach_the_client(
    start_server: StartServer, connect_to: ConnectTo, serializer: str
) -> None:
    server = await start_server(
        namespaces={**TEST_NAMESPACES, "/declared": "tests.handlers.test_server_events:Declared"}
    )
    client = await connect_to(server, serializer, ns="/declared")
    got: list[Any] = []
    pair: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
    client.on("tick", lambda data: got.append(data) or data["n"] * 10, namespace="/declared")
    client.on("pair:sent", lambda *args: pair.set_result(args), namespace="/declared")
    answer = await client.call("start", 3, namespace="/declared", timeout=5)
    assert got == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": -1}]
    assert answer == -10  # the client's ack to the declared event, through call()
    assert await asyncio.wait_for(pair, 5) == ("done", 3)  # a tuple: two arguments


SNIPPET = """\
from typing import TypedDict
from socketsvc.handlers import BaseNamespace, ServerEvent

class Outbid(TypedDict):
    lot: str
    amount: int

class Auction(BaseNamespace):
    outbid = ServerEvent[Outbid]()
    ticks = ServerEvent[list[int]]("tick")

    async def on_bid(self, sid: str, lot: str) -> None:
        await self.emit(self.outbid, {"lot": lot, "amount": 5}, to=lot, skip_sid=sid)
        await self.emit(self.ticks, [1, 2], volatile=True)
        await self.emit("anything", {"goes": object()})
        await self.call(self.outbid, {"lot": lot, "amount": 5}, to=sid, timeout=1)
        await self.emit(self.outbid, {"lot": lot, "amount": "5"}, to=lot)  # line 17
        await self.emit(self.outbid, {"lot": lot, "amout": 5})  # line 18
        await self.emit(self.ticks, ["x"])  # line 19
        await self.emit(self.outbid, {"lot": lot, "amount": 5}, too=lot)  # line 20
        await self.call(self.outbid, {"lot": lot}, to=sid)  # line 21
"""
MYPY_INI = """\
[mypy]
strict = True
follow_imports = silent
[mypy-socketio.*,engineio.*,msgpack.*]
ignore_missing_imports = True
"""


async def test_mypy_checks_payloads_against_the_declaration(tmp_path: Path) -> None:
    (tmp_path / "snippet.py").write_text(SNIPPET)
    (tmp_path / "mypy.ini").write_text(MYPY_INI)
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-incremental"),
        "snippet.py",
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = (await asyncio.wait_for(proc.communicate(), 120))[0].decode()
    found = [line for line in out.splitlines() if ": error:" in line]
    assert {line.split(":")[1] for line in found} == {"17", "18", "19", "20", "21"}, out
    assert (
        'snippet.py:17: error: Incompatible types (expression has type "str", TypedDict item '
        '"amount" has type "int")' in out
    )
    # (which message depends on the overload mypy reports: either names the problem)
    assert re.search(
        r'snippet.py:18: error: (Extra key "amout"|No overload variant of "emit")', out
    )
    # (emit is NodeCalls', the part of BaseNamespace that calls the node)
    assert 'snippet.py:19: error: No overload variant of "emit" of "NodeCalls" matches' in out
    assert '"ServerEvent[list[int]]", "list[str]"' in out
    assert 'snippet.py:20: error: Unexpected keyword argument "too" for "emit"' in out
    assert 'snippet.py:21: error: Missing key "amount" for TypedDict "Outbid"' in out


def test_the_typing_signatures_mirror_emit_and_call() -> None:
    """ServerEvent.emitting/.calling are what mypy checks emit/call's arguments against."""

    def tail(function: Any, skip: int) -> list[tuple[str, Any, Any]]:
        parameters = list(inspect.signature(function).parameters.values())[skip:]
        return [(p.name, p.kind, p.default) for p in parameters]

    assert tail(ServerEvent.emitting, 2) == tail(BaseNamespace.emit, 3)  # after data
    assert tail(ServerEvent.calling, 2) == tail(BaseNamespace.call, 3)
