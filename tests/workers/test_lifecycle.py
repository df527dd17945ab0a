"""A machine's life: start-up failing as a whole, a worker killed and started again with its
clients recovered, SIGTERM draining every worker (clients recovered on another node with Redis,
nothing lost) and leaving no process behind; a port already in use; ``--workers 1`` runs no
primary at all."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import aiohttp
import socketio

from tests.cli_node import cli_node, run_cli
from tests.conftest import TEST_NAMESPACES, StartServer, eventually
from tests.e2e.test_js_clients import assert_all_passed, run_node
from tests.workers.machine import Machine, machine


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def exists(path: str) -> bool:
    return Path(path).exists()


async def ready(url: str) -> bool:
    async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as response:
        return response.status == 200


async def test_a_killed_worker_is_started_again_and_its_clients_recovered(
    node: str, tmp_path: Path
) -> None:
    async with machine(tmp_path) as m:
        before = m.worker_pids()
        env = {"SCENARIO": "crash", "SOCKETSVC_URL": m.url, "TRANSPORT": "websocket"}
        assert_all_passed(await run_node(node, "workers_lifecycle.test.mjs", env))
        after = m.worker_pids()
        assert len(after) == 2 and len(set(before) & set(after)) == 1
        assert re.search(r"worker \d \(pid \d+\) exited with status -9; starting", m.node.output)
        assert await ready(m.url)


async def test_sigterm_drains_every_worker_and_leaves_no_process(tmp_path: Path) -> None:
    async with machine(tmp_path, "--log-level", "debug") as m:
        workers = m.worker_pids()
        found = re.search(r"workers' sockets in (\S+)", m.node.output)
        assert found
        rundir = found.group(1)
        assert exists(rundir)
        clients, gone = [], []
        pids: set[int] = set()
        while len(pids) < 2:
            assert len(clients) < 40
            client = socketio.AsyncClient(reconnection=False)  # the machine is going away
            closed = asyncio.Event()
            client.on("disconnect", closed.set, namespace="/machine")
            clients.append(client)
            gone.append(closed)
            await client.connect(m.url, namespaces=["/machine"], transports=["websocket"])
            pids.add(await client.call("where", namespace="/machine", timeout=5))
        try:
            m.node.proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                for closed in gone:  # every worker closed its clients' transports
                    await closed.wait()
                assert await m.node.proc.wait() == 0
        finally:
            for client in clients:
                await client.shutdown()
        assert not any(alive(pid) for pid in workers)
        assert not exists(rundir)
        assert "worker 0 (pid" in m.node.output and "exited with status 0" in m.node.output


async def test_a_rolling_restart_with_redis_loses_nothing(
    node: str,
    tmp_path: Path,
    start_server: StartServer,
    redis_url: str,
    redis_prefix: str,
) -> None:
    cluster = ("--manager", "redis", "--redis-url", redis_url, "--redis-prefix", redis_prefix)
    other = await start_server(
        manager="redis",
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        namespaces={**TEST_NAMESPACES, "/machine": "tests.workers.handlers:MachineNamespace"},
    )
    async with machine(tmp_path, *cluster) as m:
        env = {
            "SCENARIO": "rolling",
            "SOCKETSVC_URL": m.url,
            "MACHINE_PID": str(m.pid),
            "NODE_B": str(other.make_url("")).rstrip("/"),
            "TRANSPORT": "websocket",
        }
        assert_all_passed(await run_node(node, "workers_lifecycle.test.mjs", env))
        await eventually(lambda: m.node.proc.returncode is not None, 10)
        assert m.node.proc.returncode == 0


async def test_a_worker_that_cannot_start_stops_the_machine(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text('[namespaces]\n"/x" = "tests.no_such_module:Handler"\n')
    status, output = await run_cli(
        "serve", "--workers", "2", "--port", "0", "--config", str(config)
    )
    assert status == 2
    assert "namespaces./x: cannot import module 'tests.no_such_module'" in output
    assert "could not start (exit status 2)" in output


async def test_a_port_in_use_is_refused_not_shared(tmp_path: Path) -> None:
    async with machine(tmp_path) as m:
        port = m.url.rsplit(":", 1)[1]
        for workers in ("2", "1"):
            status, output = await run_cli("serve", "--workers", workers, "--port", port)
            assert status == 1, output
            assert f"cannot listen on 127.0.0.1:{port}" in output
            assert "in use" in output


async def test_one_worker_runs_no_primary() -> None:
    async with cli_node("--workers", "1") as single:
        assert Machine(single).worker_pids() == []
        assert "workers=" not in single.output
