"""The Python in the docs is what users copy: every ``socketsvc`` import they show resolves, and
every complete example (a module with its file name on its first line, an emitter script) runs
against a real node, with stock python-socketio clients on both parsers.

A complete example added to the docs fails ``test_every_complete_example_is_run`` until a
scenario here runs it: the docs cannot drift from the code unnoticed."""

from __future__ import annotations

import ast
import importlib
import re
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import socketio
from redis import asyncio as aioredis

from tests.conftest import CLIENT_SERIALIZERS, SERIALIZERS, Inbox, StartServer

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "deploy" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
MODULE_HEADER = re.compile(r"# ([\w/]+)\.py\n")


@dataclass(frozen=True)
class Example:
    doc: Path
    line: int
    code: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def module(self) -> str | None:
        """``myapp.orders`` for a block that starts ``# myapp/orders.py``: a file users save."""
        header = MODULE_HEADER.match(self.code)
        return header.group(1).replace("/", ".") if header else None

    @property
    def complete(self) -> bool:
        return self.module is not None or "async with Emitter(" in self.code

    def imports(self) -> Iterator[tuple[str, list[str]]]:
        """(module, names) of every ``import socketsvc…`` / ``from socketsvc… import …``."""
        flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT  # an emitter script's top level
        tree = compile(self.code, self.where, "exec", flags=flags)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("socketsvc"):
                yield str(node.module), [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "socketsvc":
                        yield alias.name, []


def examples() -> list[Example]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start(1)) + 1
            found.append(Example(doc, line, match.group(1)))
    return found


IMPORTS = [
    pytest.param(module, names, id=f"{example.where}:{module}")
    for example in examples()
    for module, names in example.imports()
]


def test_the_docs_show_imports() -> None:
    assert len(IMPORTS) >= 5, "the examples were not found: has the fence syntax changed?"


@pytest.mark.parametrize(("module", "names"), IMPORTS)
def test_every_import_in_the_docs_resolves(module: str, names: list[str]) -> None:
    imported = importlib.import_module(module)
    for name in names:
        assert hasattr(imported, name), f"{module} has no {name}: the docs show it"


PUBLIC_ROW = re.compile(r"^\| `(socketsvc(?:\.\w+)*)` \| (.*) \|$", re.MULTILINE)


def test_the_public_api_table_names_what_exists() -> None:
    """README "The public API": each module listed imports and has the names shown beside it."""
    rows = PUBLIC_ROW.findall((ROOT / "README.md").read_text())
    assert {"socketsvc.handlers", "socketsvc.errors", "socketsvc.emitter"} <= {m for m, _ in rows}
    for module, names in rows:
        imported = importlib.import_module(module)
        for name in re.findall(r"`(\w+)`", names):
            assert hasattr(imported, name), f"README lists {module}.{name}"


# -- the complete examples, each run by a scenario ---------------------------------------------


@pytest.fixture
def app_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder users would save the examples in; their modules are forgotten afterwards."""
    yield tmp_path
    for name in [n for n in sys.modules if n == "myapp" or n.startswith("myapp.")]:
        del sys.modules[name]


def save(example: Example, folder: Path, **replace: str) -> None:
    assert example.module is not None
    code = example.code
    for old, new in replace.items():
        assert old in code, f"{example.where} no longer contains {old!r}"
        code = code.replace(old, new)
    path = folder / (example.module.replace(".", "/") + ".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(code)


def find(predicate: Callable[[Example], bool]) -> list[Example]:
    return [example for example in examples() if example.complete and predicate(example)]


def is_orders(example: Example) -> bool:
    return example.module == "myapp.orders"


def is_denylist(example: Example) -> bool:
    return example.module == "myapp.denylist"


def is_emitter_script(example: Example) -> bool:
    return example.module is None and "async with Emitter(" in example.code


SCENARIOS = [is_orders, is_denylist, is_emitter_script]


def test_every_complete_example_is_run() -> None:
    unclaimed = [e.where for e in examples() if e.complete and not any(s(e) for s in SCENARIOS)]
    assert not unclaimed, f"complete examples no scenario of {__name__} runs: {unclaimed}"
    for scenario in SCENARIOS:
        assert find(scenario), f"{scenario.__name__}: its example is gone from the docs"


async def connected(
    url: str, serializer: str, namespace: str, **options: Any
) -> socketio.AsyncClient:
    client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
    await client.connect(url, namespaces=[namespace], wait_timeout=5, **options)
    return client


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_the_orders_handler_module(
    start_server: StartServer, app_dir: Path, serializer: str
) -> None:
    (example,) = find(is_orders)
    save(example, app_dir)
    srv = await start_server(
        serializer=serializer,
        handler_path=[str(app_dir)],
        namespaces={"/orders": "myapp.orders:OrdersNamespace"},
    )
    url = str(srv.make_url("/"))

    refused = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
    errors: list[Any] = []
    refused.on("connect_error", errors.append, namespace="/orders")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(url, namespaces=["/orders"], wait_timeout=5)
    await refused.shutdown()
    assert errors == [{"message": "token required"}]

    client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
    welcome = Inbox(client, "welcome", "/orders")
    await client.connect(url, namespaces=["/orders"], auth={"token": "t"}, wait_timeout=5)
    try:
        assert (await welcome.get())["sid"]
        subscribe = {"order_id": "o-1", "priority": "high"}
        assert await client.call("subscribe", subscribe, namespace="/orders", timeout=5) == {
            "subscribed": "o-1"
        }
        bad = await client.call("subscribe", {"order_id": ""}, namespace="/orders", timeout=5)
        assert bad["error"]["code"] == "invalid_payload"
        assert "order_id" in bad["error"]["message"]
        rate = {"order_id": "o-1", "stars": 5, "tags": ["fast"], "channel": "app"}
        assert await client.call("rate", rate, namespace="/orders", timeout=5) is None
        too_many = await client.call("rate", {**rate, "stars": 6}, namespace="/orders", timeout=5)
        assert too_many["error"]["code"] == "invalid_payload"
        cancel = await client.call("cancel-order", "o-1", namespace="/orders", timeout=5)
        assert cancel == {"error": {"code": "not_cancellable", "message": "already shipped"}}
    finally:
        await client.disconnect()
        await client.shutdown()


SECRET = "a-secret-for-the-docs-example-0123456789"


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_the_deny_list_hook(
    start_server: StartServer, app_dir: Path, redis_url: str, serializer: str
) -> None:
    (example,) = find(is_denylist)
    save(example, app_dir, **{'"redis://redis:6379/1"': repr(redis_url)})
    srv = await start_server(
        serializer=serializer,
        handler_path=[str(app_dir)],
        jwt_secret=SECRET,
        namespace_auth={"/chat": "required"},
        revoked_hook="myapp.denylist:revoked",
    )
    url = str(srv.make_url("/"))
    jti = f"docs-{serializer}"
    store = aioredis.from_url(redis_url)
    await store.sadd("revoked-jti", jti)
    try:
        refused = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
        errors: list[Any] = []
        refused.on("connect_error", errors.append, namespace="/chat")
        exp = int(time.time()) + 300
        revoked = jwt.encode({"sub": "u-1", "jti": jti, "exp": exp}, SECRET, algorithm="HS256")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(
                url, namespaces=["/chat"], auth={"token": revoked}, wait_timeout=5
            )
        await refused.shutdown()
        assert errors and errors[0]["data"]["code"] == "token_revoked", errors

        valid = jwt.encode({"sub": "u-1", "jti": "other", "exp": exp}, SECRET, algorithm="HS256")
        client = await connected(url, serializer, "/chat", auth={"token": valid})
        await client.disconnect()
        await client.shutdown()
    finally:
        await store.srem("revoked-jti", jti)
        await store.aclose()
        denylist = sys.modules.get("myapp.denylist")
        if denylist is not None:
            await denylist.store.aclose()


@pytest.mark.parametrize("example", find(is_emitter_script), ids=lambda e: e.where)
async def test_the_emitter_scripts(
    start_server: StartServer, redis_url: str, redis_prefix: str, example: Example
) -> None:
    srv = await start_server(
        manager="redis",
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        namespace_recovery={"/chat": 120},  # recoverable=True: kept in the recovery stream
    )
    url = str(srv.make_url("/"))
    code = example.code.replace('"redis://redis:6379/0"', repr(redis_url))
    code = code.replace('prefix="socketsvc"', f"prefix={redis_prefix!r}")
    clients, inboxes = [], []
    for serializer in SERIALIZERS:
        client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
        inboxes.append(Inbox(client, "notice", "/chat"))
        await client.connect(url, namespaces=["/chat"], wait_timeout=5)
        joined = {"room": "lobby", "name": serializer}
        assert "error" not in await client.call("join", joined, namespace="/chat", timeout=5)
        clients.append(client)
    try:
        script = "async def run():\n" + textwrap.indent(code, "    ")
        scope: dict[str, Any] = {}
        exec(compile(script, example.where, "exec"), scope)
        await scope["run"]()
        emits = code.count('emitter.emit("notice"')
        kept = code.count("recoverable=True")
        for inbox in inboxes:
            got = [await inbox.get() for _ in range(emits)]
            with_offset = [g for g in got if isinstance(g, tuple)]  # kept: (data, offset)
            assert len(with_offset) == kept, got
            assert [g[0] if isinstance(g, tuple) else g for g in got] == [{"text": "hi"}] * emits
    finally:
        for client in clients:
            await client.disconnect()
            await client.shutdown()
