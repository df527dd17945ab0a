"""The acceptance picture of one endpoint for every client: npm socket.io-client with the
default parser and with socket.io-msgpack-parser, python-socketio with both serializers, all in
the same /chat room on one server, exchanging messages and binary payloads."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import socketio

from tests.conftest import CLIENT_SERIALIZERS, Inbox, StartServer

SCRIPT = Path(__file__).parents[1] / "js" / "four_clients.mjs"


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_four_kinds_of_client_share_one_room(
    node: str, start_server: StartServer, transport: str
) -> None:
    server = await start_server()
    url = str(server.make_url("/"))
    python_clients = {}
    for parser in ("json", "msgpack"):
        client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[parser])
        await client.connect(url, namespaces=["/chat", "/test"], transports=[transport])
        await client.call("join", {"room": "four", "name": f"py-{parser}"}, namespace="/chat")
        await client.call("enter", "four", namespace="/test")
        python_clients[parser] = (client, Inbox(client, "message"), Inbox(client, "relay", "/test"))

    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        env={**os.environ, "SOCKETSVC_URL": url.rstrip("/"), "TRANSPORT": transport},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 15)).strip() == b"ready"
        for parser, (client, _, _) in python_clients.items():
            name = f"py-{parser}"
            await client.call(
                "message", {"room": "four", "text": f"hello from {name}"}, namespace="/chat"
            )
            blob = {"from": name, "blob": b"\x00\x01py\xff"}
            assert await client.call("relay", ("four", blob), namespace="/test") == "relayed"
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0 and out.strip().endswith(b"done"), out.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    for parser, (client, messages, relays) in python_clients.items():
        other = f"py-{'msgpack' if parser == 'json' else 'json'}"
        texts = sorted([(await messages.get())["text"] for _ in range(3)])
        assert texts == [f"hello from {n}" for n in sorted(["js-json", "js-msgpack", other])]
        blobs = sorted([(await relays.get()) for _ in range(3)], key=lambda p: p["from"])
        assert [b["from"] for b in blobs] == sorted(["js-json", "js-msgpack", other])
        for blob in blobs:
            expected = b"\x00\x01py\xff" if blob["from"].startswith("py") else b"\x00\x01js\xff"
            assert blob["blob"] == expected
        await client.disconnect()
        await client.shutdown()
