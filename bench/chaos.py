#!/usr/bin/env python3
"""Chaos run for connection-state recovery (not in CI): count lost and duplicated messages.

    python bench/chaos.py                          # all three scenarios, 200 clients, 200 msg/s
    python bench/chaos.py --scenarios kill --clients 50 --rate 100
    python bench/chaos.py --scenarios rolling,kill --runs 10 --out chaos.jsonl

Topology, all native on 127.0.0.1: a redis-server, two ``socketsvc serve`` nodes with
``manager = redis`` (``/chat`` has recovery, 120 s), and nginx with deploy/nginx.conf in front
(only the upstream addresses and the listen port replaced). bench/chaos_clients.mjs connects
the members of one ``/chat`` room and a publisher through nginx, spread over loopback source
addresses so that ip_hash puts them on both nodes; members take the JSON and msgpack parsers
and the websocket and polling transports in turn (``--transports``). While the publisher sends
at ``--rate``:

- ``rolling``: each node in turn gets SIGTERM, is started again on its port, and has a few
  seconds before the next one (a rolling deploy);
- ``kill``: node 1 gets SIGKILL and is started again 3 s later (a crash);
- ``redis``: redis-server is stopped for 5 s and started again (its data is lost).

Each scenario runs on a fresh topology, ``--runs`` times. Per member, against the publisher's
log of acked messages: lost = acked and never received, duplicated = received more than once;
``by_client`` splits them by parser and transport. Recovery is in force for both failures the
acceptance of issue #30 names (rolling, kill): every lost or duplicated message there is a bug.
In ``redis`` losses are expected (recovery state lives in Redis, which loses it).
Bounded: every wait has a timeout and each scenario lasts well under a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SCENARIOS = ("rolling", "kill", "redis")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready within {timeout:.0f}s")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as response:
        return bool(response.status == 200)


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", ""]
        argv += ["--appendonly", "no", "--loglevel", "warning"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

        def pongs() -> bool:
            with socket.create_connection((HOST, self.port), 0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")

        wait_for(pongs, "redis-server")

    def stop(self) -> None:
        stop(self.proc)


class Node:
    """One ``socketsvc serve`` that can be stopped, killed and started again on its port."""

    def __init__(self, redis: Redis, log_dir: Path, index: int) -> None:
        self.port = free_port()
        self.redis = redis
        self.log = (log_dir / f"node-{index}.log").open("ab")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, "-m", "socketsvc", "serve", "--port", str(self.port)]
        argv += ["--manager", "redis", "--redis-url", f"redis://{HOST}:{self.redis.port}/0"]
        argv += ["--log-level", os.environ.get("CHAOS_LOG_LEVEL", "warning")]
        argv += ["--max-connections-per-ip", "0"]
        argv += ["--rate-limit-events", "0", "--shutdown-grace", "5"]
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log
        )
        wait_for(lambda: http_ok(f"http://{HOST}:{self.port}/readyz"), f"node :{self.port}")

    def terminate(self) -> None:
        stop(self.proc)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def nginx_config(workdir: Path, ports: list[int], listen: int) -> Path:
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    found = re.search(r"server socketsvc-1:8000( [^;]*);", site)
    options = found.group(1) if found else ""
    servers = "\n".join(f"    server {HOST}:{p}{options};" for p in ports)
    pattern = r"(upstream socketsvc \{\n\s*ip_hash;\n)(?:\s*server [^\n]+\n)+"
    site = re.sub(pattern, lambda m: m.group(1) + servers + "\n", site)
    site = site.replace("listen 8080;", f"listen {HOST}:{listen};")
    for sub in ("logs", "tmp"):
        (workdir / sub).mkdir(exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(
        "daemon off;\nworker_processes 1;\npid nginx.pid;\nerror_log logs/error.log warn;\n"
        "events { worker_connections 4096; }\nhttp {\n"
        "access_log off;\nclient_body_temp_path tmp;\nproxy_temp_path tmp;\n" + site + "\n}\n"
    )
    return conf


@contextlib.contextmanager
def topology(workdir: Path) -> Iterator[tuple[Redis, list[Node], str]]:
    redis = Redis()
    redis.start()
    nodes = [Node(redis, workdir, i) for i in (1, 2)]
    nginx: subprocess.Popen[bytes] | None = None
    try:
        for node in nodes:
            node.start()
        listen = free_port()
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        conf = nginx_config(workdir, [n.port for n in nodes], listen)
        nginx = subprocess.Popen([binary, "-p", str(workdir), "-c", str(conf)])
        url = f"http://{HOST}:{listen}"
        wait_for(lambda: http_ok(url + "/healthz"), "nginx")
        yield redis, nodes, url
    finally:
        stop(nginx)
        for node in nodes:
            node.kill()
        redis.stop()


class Clients:
    def __init__(self, url: str, clients: int, rate: int, transports: str) -> None:
        argv = ["node", str(ROOT / "bench" / "chaos_clients.mjs"), "--url", url]
        argv += ["--clients", str(clients), "--rate", str(rate), "--transports", transports]
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.expect("ready", 120)

    def expect(self, word: str, timeout: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"chaos_clients.mjs exited before '{word}'")
            if line.strip() == word or line.startswith("{"):
                return line
        raise TimeoutError(f"no '{word}' from chaos_clients.mjs")

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def report(self) -> dict[str, Any]:
        self.send("stop")
        self.expect("stopped", 120)
        self.send("report")  # once what is still in flight has reached the members
        report: dict[str, Any] = json.loads(self.expect("{", 240))
        self.proc.wait(timeout=30)
        return report


def rolling(redis: Redis, nodes: list[Node]) -> None:
    for node in nodes:
        node.terminate()
        node.start()
        time.sleep(5)


def kill(redis: Redis, nodes: list[Node]) -> None:
    nodes[0].kill()
    time.sleep(3)
    nodes[0].start()
    time.sleep(5)


def redis_restart(redis: Redis, nodes: list[Node]) -> None:
    redis.stop()
    time.sleep(5)
    redis.start()
    time.sleep(10)


ACTIONS = {"rolling": rolling, "kill": kill, "redis": redis_restart}


def run(
    scenario: str, clients: int, rate: int, transports: str, keep_logs: Path | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"socketsvc-chaos-{scenario}-") as tmp:
        with topology(Path(tmp)) as (redis, nodes, url):
            crowd = Clients(url, clients, rate, transports)
            crowd.send("publish")
            time.sleep(3)
            started = time.monotonic()
            ACTIONS[scenario](redis, nodes)
            took = time.monotonic() - started
            time.sleep(3)
            report = crowd.report()
        if keep_logs is not None:
            keep_logs.mkdir(parents=True, exist_ok=True)
            (keep_logs / f"{scenario}-report.json").write_text(json.dumps(report))
            for log in [*Path(tmp).glob("*.log"), *Path(tmp).glob("logs/*.log")]:
                shutil.copy(log, keep_logs / f"{scenario}-{log.name}")
    acked = set(report["acked"])
    lost, duplicated, affected, delivered = 0, 0, 0, 0
    by_client: dict[str, list[int]] = {}  # "json/polling" -> [members, lost, duplicated]
    for member in report["members"]:
        counts = dict(member["received"])
        missing = len(acked - counts.keys())
        delivered += len(acked) - missing
        extra = sum(n - 1 for n in counts.values() if n > 1)
        lost += missing
        duplicated += extra
        affected += 1 if missing or extra else 0
        kind = by_client.setdefault(f"{member['format']}/{member['transport']}", [0, 0, 0])
        kind[0] += 1
        kind[1] += missing
        kind[2] += extra
    reconnects = sum(m["recovered"] + m["fresh"] - 1 for m in report["members"])
    recovered = sum(m["recovered"] for m in report["members"])
    return {
        "scenario": scenario,
        "clients": clients,
        "rate": rate,
        "action_s": round(took, 1),
        "sent": report["sent"],
        "acked": len(acked),
        "failed": len(report["failed"]),
        "drained_s": round(report["drained_s"], 1),
        "reconnects": reconnects,
        "recovered": recovered,
        "delivered": delivered,  # acked messages members received (acked x members, if none lost)
        "lost": lost,
        "duplicated": duplicated,
        "clients_affected": affected,
        "by_client": {
            kind: dict(zip(("members", "lost", "dup"), v, strict=True))
            for kind, v in by_client.items()
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--transports", default="websocket,polling")
    parser.add_argument("--runs", type=int, default=1, help="run the scenarios this many times")
    parser.add_argument("--keep-logs", type=Path, help="copy the nodes' logs into this folder")
    parser.add_argument("--out", type=Path, help="append each row, as JSON, to this file")
    args = parser.parse_args()
    rows = []
    for number in range(1, args.runs + 1):
        for scenario in args.scenarios.split(","):
            logs = args.keep_logs / f"run{number}" if args.keep_logs else None
            row = {"run": number, **run(scenario, args.clients, args.rate, args.transports, logs)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out is not None:
                with args.out.open("a") as out:
                    out.write(json.dumps(row) + "\n")
    keys = [k for k in rows[0] if k != "by_client"]
    print("\n| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
