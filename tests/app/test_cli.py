"""The command line as an operator uses it: help, config errors (exit 2), signals (exit 0)."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest
import socketio

from tests.cli_node import cli_node, run_cli
from tests.conftest import eventually

ROOT = Path(__file__).resolve().parents[2]


async def test_help_lists_every_setting_with_its_default() -> None:
    code, out = await run_cli("serve", "--help")
    assert code == 0
    out = " ".join(out.split())
    for flag, default in [
        ("--host", "127.0.0.1"),
        ("--port", "8000"),
        ("--serializer", "auto"),
        ("--log-level", "info"),
        ("--ping-interval", "25.0"),
        ("--max-payload", "1000000"),
        ("--config", None),
    ]:
        assert flag in out
        if default:
            assert re.search(rf"{flag} \S+ [^()]*\(default: {re.escape(default)};", out), flag


async def test_help_says_what_socketsvc_is_and_how_to_write_each_flag() -> None:
    code, out = await run_cli("--help")
    assert code == 0 and "Socket.IO-compatible real-time event server" in out
    code, out = await run_cli("serve", "--help")
    assert code == 0
    out = " ".join(out.split())
    assert "--serializer {auto,json,msgpack}" in out  # a choice flag shows its values
    assert "--log-level {debug,info,warning,error}" in out
    assert "comma-separated, from: polling, websocket" in out  # a list of choices
    assert re.search(r"--cors-origins CORS_ORIGINS .*?; comma-separated \(default", out)
    assert "[namespaces]" in out and "[namespace_auth]" in out  # the file-only tables
    assert "--namespaces" not in out
    for secret in ("--jwt-secret JWT_SECRET", "--api-key API_KEY"):
        text = out.split(secret)[-1].split("(default", 1)[0]  # its help, not the usage line
        assert "WARNING" in text and "process list" in text, secret


async def test_a_secret_given_as_a_flag_is_warned_about() -> None:
    async with cli_node("--api-key", "k3y-from-the-command-line") as node:
        pass
    assert "--api-key was given on the command line" in node.output
    assert "k3y-from-the-command-line" not in node.output


CONSOLE_SCRIPT = Path(sys.executable).parent / "socketsvc"


@pytest.mark.parametrize("how", ["console script", "python -m"])
async def test_handler_modules_beside_the_config_file_or_in_the_working_directory(
    tmp_path: Path, how: str
) -> None:
    """``socketsvc serve`` and ``python -m socketsvc serve`` find the same handler modules."""
    handler = (
        "from socketsvc.handlers import BaseNamespace\n"
        "class {name}(BaseNamespace):\n"
        "    async def on_where(self, sid):\n"
        "        return '{name}'\n"
    )
    confdir, workdir = tmp_path / "conf", tmp_path / "work"
    confdir.mkdir()
    workdir.mkdir()
    (confdir / "beside_config.py").write_text(handler.format(name="Beside"))
    (workdir / "in_workdir.py").write_text(handler.format(name="Here"))
    (confdir / "app.toml").write_text(
        '[namespaces]\n"/a" = "beside_config:Beside"\n"/b" = "in_workdir:Here"\n'
    )
    command = [sys.executable, "-m", "socketsvc"]
    if how == "console script":
        command = [str(CONSOLE_SCRIPT)]
    async with cli_node(
        "--config", str(confdir / "app.toml"), command=command, cwd=workdir
    ) as node:
        client = socketio.AsyncClient()
        await client.connect(node.url, namespaces=["/a", "/b"], transports=["websocket"])
        try:
            assert await client.call("where", namespace="/a", timeout=5) == "Beside"
            assert await client.call("where", namespace="/b", timeout=5) == "Here"
        finally:
            await client.disconnect()
            await client.shutdown()


async def test_a_missing_handler_module_says_where_it_looked(tmp_path: Path) -> None:
    confdir = tmp_path / "conf"
    confdir.mkdir()
    (confdir / "app.toml").write_text('[namespaces]\n"/orders" = "myapp.orders:Orders"\n')
    code, out = await run_cli(
        "serve", "--config", str(confdir / "app.toml"), command=[str(CONSOLE_SCRIPT)], cwd=tmp_path
    )
    assert code == 2
    assert "cannot import module 'myapp.orders': ModuleNotFoundError" in out
    assert "No module named 'myapp'" in out
    assert f"(looked in {confdir}, {tmp_path} and the installed packages)" in out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    "args, env, names",
    [
        (["--port", "http"], {}, "port: 'http' from --port"),
        (["--serializer", "xml"], {}, "--serializer"),
        ([], {"SOCKETSVC_PING_INTERVAL": "soon"}, "ping_interval"),
        (
            [],
            {"SOCKETSVC_REDIS_PROTOCOL": "socket.io-5"},
            "redis_protocol: 'socket.io-5' is not one of socketsvc, socket.io, socket.io-streams",
        ),
        (
            ["--redis-sentinels", "10.0.0.1"],
            {"SOCKETSVC_REDIS_SENTINEL_SERVICE": "main"},
            "redis_sentinels: '10.0.0.1' is not a host:port",
        ),
        (["--config", "{bad_key}"], {}, "colour: unknown setting"),
        (["--config", "{bad_module}"], {}, "cannot import module 'nowhere.handlers'"),
    ],
)
async def test_configuration_errors_exit_2_and_name_the_setting(
    tmp_path: Path, args: list[str], env: dict[str, str], names: str
) -> None:
    files = {
        "{bad_key}": 'colour = "blue"\n',
        "{bad_module}": '[namespaces]\n"/orders" = "nowhere.handlers:Orders"\n',
    }
    for i, arg in enumerate(args):
        if arg in files:
            path = tmp_path / "config.toml"
            path.write_text(files[arg])
            args[i] = str(path)
    code, out = await run_cli("serve", *args, env=env)
    assert code == 2, out
    assert names in out
    assert "Traceback" not in out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_disconnects_clients_and_exits_0(sig: signal.Signals) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "socketsvc",
        "serve",
        "--port",
        "0",
        "--shutdown-grace",
        "3",
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    url = None
    while url is None:
        line = (await asyncio.wait_for(proc.stderr.readline(), 15)).decode()
        assert line, "server exited before listening"
        found = re.search(r"listening on (http://\S+)", line)
        url = found.group(1) if found else None
    client = socketio.AsyncClient(reconnection=False)
    reasons: list[str] = []
    client.on("disconnect", lambda reason="": reasons.append(reason), namespace="/chat")
    await client.connect(url, namespaces=["/chat"], transports=["websocket"])
    await client.call("join", {"room": "r", "name": "n"}, namespace="/chat", timeout=5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    proc.send_signal(sig)
    code = await asyncio.wait_for(proc.wait(), 10)
    assert code == 0
    assert loop.time() - started < 5
    await eventually(lambda: bool(reasons))
    await client.shutdown()
    rest = (await proc.stderr.read()).decode()
    assert "shutting down" in rest and "Traceback" not in rest


def test_hash_password_prints_a_bcrypt_hash_the_settings_accept() -> None:
    import subprocess

    import bcrypt

    from socketsvc.config import Settings

    proc = subprocess.run(
        [sys.executable, "-m", "socketsvc", "hash-password"],
        cwd=ROOT,
        input="correct horse\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    hashed = proc.stdout.strip()
    assert bcrypt.checkpw(b"correct horse", hashed.encode())
    assert Settings(admin_ui=True, admin_password_hash=hashed).admin_password_hash == hashed
    empty = subprocess.run(
        [sys.executable, "-m", "socketsvc", "hash-password"],
        cwd=ROOT, input="\n", capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert empty.returncode == 2 and "must not be empty" in empty.stderr
