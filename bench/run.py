#!/usr/bin/env python3
"""Side-by-side benchmark of Socket.IO servers (stdlib only).

    python bench/run.py                      # full default run (node, pysio, socketsvc)
    python bench/run.py --smoke              # seconds-long end-to-end check of the harness
    python bench/run.py --servers node,pysio --formats json --scenarios ack-echo-50 --reps 1

Each server is started as a subprocess on a free 127.0.0.1 port pinned to CPU 0;
the Node.js load generator (bench/loadgen.mjs) runs pinned to CPU 1. Servers are
interleaved (A, B, C, A, B, C, ...) for --reps repetitions and the median is
reported in one table. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
HOST = "127.0.0.1"
SERVER_CPU = "0"
LOADGEN_CPU = "1"


# ---------------------------------------------------------------------------
# servers under test


@dataclass(frozen=True)
class ServerSpec:
    name: str
    argv: tuple[str, ...]  # "{port}" and "{format}" are substituted
    mixed: bool = False  # serves JSON and msgpack clients on one endpoint
    mixed_format: str = "json"  # --serializer value used for the mixed-format room
    cluster: bool = False  # runs as several nodes on one redis-server (--manager redis)
    root: str = REPO_ROOT  # the checkout the server runs from (working dir and PYTHONPATH)
    cpus: str = SERVER_CPU  # where it is pinned: several workers get every core (the LG's too)
    ready_path: str = ""  # an HTTP path that answers 200 once every worker serves

    def command(self, port: int, fmt: str) -> list[str]:
        return [a.format(port=port, format=fmt) for a in self.argv]


SERVERS: dict[str, ServerSpec] = {
    "node": ServerSpec(
        "node",
        (
            "node",
            "bench/node_server.mjs",
            "--host",
            HOST,
            "--port",
            "{port}",
            "--format",
            "{format}",
        ),
    ),
    "pysio": ServerSpec(
        "pysio",
        (
            sys.executable,
            "bench/pysio_server.py",
            "--host",
            HOST,
            "--port",
            "{port}",
            "--serializer",
            "{format}",
        ),
    ),
    "socketsvc": ServerSpec(
        "socketsvc",
        (
            sys.executable,
            "-m",
            "socketsvc",
            "serve",
            "--host",
            HOST,
            "--port",
            "{port}",
            "--serializer",
            "{format}",
            "--config",
            "bench/socketsvc.toml",
            "--log-level",
            "warning",
        ),
        mixed=True,
        mixed_format="auto",
        cluster=True,
    ),
}
# socketsvc with connection-state recovery on the benchmark namespace: every broadcast is
# stored (and, on two nodes, goes through the Redis stream): the cost of recovery.
SERVERS["socketsvc-recovery"] = dataclasses.replace(
    SERVERS["socketsvc"],
    name="socketsvc-recovery",
    argv=tuple(
        "bench/socketsvc-recovery.toml" if a == "bench/socketsvc.toml" else a
        for a in SERVERS["socketsvc"].argv
    ),
)
# socketsvc speaking the formats of Node's Redis adapters on Redis (redis_protocol): only the
# two-node scenarios differ from "socketsvc"; `--servers socketsvc,socketsvc-sio,
# socketsvc-sio-streams --scenarios bcast-2node-max,bcast-2node-rate` puts the cost of each
# protocol against today's bus in one run.
SERVERS["socketsvc-sio"] = dataclasses.replace(
    SERVERS["socketsvc"],
    name="socketsvc-sio",
    argv=(*SERVERS["socketsvc"].argv, "--redis-protocol", "socket.io"),
)
SERVERS["socketsvc-sio-streams"] = dataclasses.replace(
    SERVERS["socketsvc"],
    name="socketsvc-sio-streams",
    argv=(*SERVERS["socketsvc"].argv, "--redis-protocol", "socket.io-streams"),
)
# Every core: socketsvc with --workers 2, and Node's cluster module with @socket.io/sticky and
# @socket.io/cluster-adapter on 2 workers (bench/node_cluster.mjs). Both run on both CPUs, the
# load generator's included: `--servers socketsvc,socketsvc-2w,node,node-cluster`.
SERVERS["socketsvc-2w"] = dataclasses.replace(
    SERVERS["socketsvc"],
    name="socketsvc-2w",
    argv=(*SERVERS["socketsvc"].argv, "--workers", "2"),
    cluster=False,
    cpus=f"{SERVER_CPU},{LOADGEN_CPU}",
    ready_path="/readyz",
)
SERVERS["node-cluster"] = ServerSpec(
    "node-cluster",
    (
        "node",
        "bench/node_cluster.mjs",
        "--host",
        HOST,
        "--port",
        "{port}",
        "--format",
        "{format}",
        "--workers",
        "2",
    ),
    cpus=f"{SERVER_CPU},{LOADGEN_CPU}",
)
# socketsvc with GET /metrics and its observer switched off (the null observer): the other side
# of the metrics-on/off cost row. `--servers socketsvc,socketsvc-nometrics`.
SERVERS["socketsvc-nometrics"] = dataclasses.replace(
    SERVERS["socketsvc"],
    name="socketsvc-nometrics",
    argv=(*SERVERS["socketsvc"].argv, "--no-metrics"),
)


# ---------------------------------------------------------------------------
# scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # loadgen --scenario, or "verify"
    clients: int
    smoke_clients: int
    metric: str  # primary metric key
    unit: str
    higher_is_better: bool
    extra: dict[str, str] = field(default_factory=dict)
    timed: bool = True  # runs for --duration
    mixed: bool = False  # one half JSON, half msgpack run instead of one per format
    nodes: int = 1  # 2: two socketsvc nodes on one redis-server, members split between them
    baseline: str = ""  # single-node scenario the "vs" column compares with (nodes = 2)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("verify", "verify", 2, 2, "ok", "", True, timed=False),
        Scenario("ack-echo-50", "ack-echo", 50, 4, "acks_per_s", "acks/s", True, {"window": "4"}),
        Scenario(
            "ack-echo-500", "ack-echo", 500, 10, "acks_per_s", "acks/s", True, {"window": "4"}
        ),
        Scenario(
            "bcast-1000-rate", "bcast-rate", 1000, 20, "p99_ms", "ms p99", False, {"rate": "10"}
        ),
        Scenario(
            "bcast-1000-max",
            "bcast-max",
            1000,
            20,
            "deliveries_per_s",
            "deliv/s",
            True,
            {"window": "8"},
        ),
        Scenario(
            "bcast-2node-rate",
            "bcast-rate",
            1000,
            20,
            "p99_ms",
            "ms p99",
            False,
            {"rate": "10"},
            nodes=2,
            baseline="bcast-1000-rate",
        ),
        Scenario(
            "bcast-2node-max",
            "bcast-max",
            1000,
            20,
            "deliveries_per_s",
            "deliv/s",
            True,
            {"window": "8"},
            nodes=2,
            baseline="bcast-1000-max",
        ),
        Scenario("idle-5k", "idle", 5000, 50, "conn_per_s", "conn/s", True, timed=False),
        Scenario("idle-10k", "idle", 10000, 100, "conn_per_s", "conn/s", True, timed=False),
        Scenario(
            "mixed-1000", "mixed", 1000, 20, "p99_ms", "ms p99", False, {"rate": "10"}, mixed=True
        ),
    ]
}
DEFAULT_SCENARIOS = [n for n in SCENARIOS if n != "verify"]


# ---------------------------------------------------------------------------
# process helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pinning_available() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(cpu: str, argv: list[str], pin: bool) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if pin else argv


class ChildProcess:
    """A process the benchmark starts in its own session: probed until ready, then stopped
    with SIGTERM to its whole group (SIGKILL if it lingers)."""

    proc: subprocess.Popen[bytes]
    port: int

    def _wait_until(self, ready: Callable[[], bool], timeout: float) -> str | None:
        """None once ``ready()`` holds, else why not (the process exited, or time ran out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exited with {self.proc.returncode}: {self.tail()}"
            with contextlib.suppress(OSError):
                if ready():
                    return None
            time.sleep(0.05)
        return f"not ready on port {self.port} after {timeout:.0f}s: {self.tail()}"

    def tail(self) -> str:
        return "no output kept"

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


class ServerProcess(ChildProcess):
    """A server under test; its output is kept in a temp file."""

    def __init__(self, spec: ServerSpec, fmt: str, pin: bool, extra: tuple[str, ...] = ()) -> None:
        self.spec = spec
        self.port = free_port()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        env = dict(os.environ)
        env["PYTHONPATH"] = spec.root + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            pinned(spec.cpus, [*spec.command(self.port, fmt), *extra], pin),
            cwd=spec.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 20.0) -> str | None:
        """None when the port accepts connections (and answers 200 on the spec's
        ``ready_path``), else why not."""
        path = self.spec.ready_path

        def accepts() -> bool:
            with socket.create_connection((HOST, self.port), 0.5) as s:
                if not path:
                    return True
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                return s.recv(64).startswith(b"HTTP/1.1 200")

        return self._wait_until(accepts, timeout)

    def tail(self, n: int = 1) -> str:
        self.log.seek(0)
        lines = [ln for ln in self.log.read().decode(errors="replace").splitlines() if ln.strip()]
        return " | ".join(lines[-n:]) if lines else "no output"

    def stop(self) -> None:
        super().stop()
        self.log.close()


class RedisServer(ChildProcess):
    """A throw-away redis-server for the two-node scenarios, on the server CPU."""

    def __init__(self, pin: bool) -> None:
        self.port = free_port()
        argv = ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", ""]
        argv += ["--appendonly", "no", "--loglevel", "warning"]
        self.proc = subprocess.Popen(
            pinned(SERVER_CPU, argv, pin),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 10.0) -> str | None:
        def pongs() -> bool:
            with socket.create_connection((HOST, self.port), 0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")

        return self._wait_until(pongs, timeout)


def run_loadgen(argv: list[str], timeout: float, pin: bool) -> dict[str, Any]:
    """Run a Node script pinned to the load-generator CPU; parse its JSON line."""
    try:
        cp = subprocess.run(
            pinned(LOADGEN_CPU, argv, pin),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"load generator killed after {timeout:.0f}s"}
    for line in reversed(cp.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return dict(json.loads(line))
            except json.JSONDecodeError:
                break
    err = (cp.stderr.strip().splitlines() or ["no output"])[-1]
    return {"ok": False, "error": f"load generator exit {cp.returncode}: {err}"}


# ---------------------------------------------------------------------------
# one measurement


def run_one(
    sc: Scenario, spec: ServerSpec, fmt: str, args: argparse.Namespace, pin: bool
) -> dict[str, Any]:
    record: dict[str, Any] = {"scenario": sc.name, "format": fmt, "server": spec.name}
    if sc.mixed and not spec.mixed:
        return {
            **record,
            "status": "n/a",
            "ok": False,
            "error": "one parser per endpoint; mixed formats not served",
        }
    if sc.nodes > 1 and not spec.cluster:
        return {**record, "status": "n/a", "ok": False, "error": "single-node server"}
    if sc.nodes > 1 and shutil.which("redis-server") is None:
        return {**record, "status": "n/a", "ok": False, "error": "redis-server not installed"}
    server_fmt = spec.mixed_format if sc.mixed else fmt
    redis = RedisServer(pin) if sc.nodes > 1 else None
    extra: tuple[str, ...] = ()
    if redis is not None:
        extra = ("--manager", "redis", "--redis-url", f"redis://{HOST}:{redis.port}/0")
    servers: list[ServerProcess] = []
    try:
        why = redis.wait_ready() if redis is not None else None
        if why is not None:
            return {**record, "status": "failed", "ok": False, "error": why}
        servers = [ServerProcess(spec, server_fmt, pin, extra) for _ in range(sc.nodes)]
        server = servers[0]
        for node in servers:
            why = node.wait_ready()
            if why is not None:
                return {**record, "status": "unavailable", "ok": False, "error": why}
        clients = sc.smoke_clients if args.smoke else sc.clients
        if sc.kind == "verify":
            argv = [
                "node",
                "bench/verify_client.mjs",
                "--port",
                str(server.port),
                "--format",
                fmt,
                "--deadline",
                "20",
            ]
            timeout = 30.0
        else:
            deadline = 30 + 2 * (args.duration + args.warmup) + clients / 100
            argv = [
                "node",
                "bench/loadgen.mjs",
                "--scenario",
                sc.kind,
                "--port",
                str(server.port),
                "--format",
                fmt,
                "--clients",
                str(clients),
                "--duration",
                str(args.duration),
                "--warmup",
                str(args.warmup),
                "--server-pid",
                str(server.proc.pid),
                "--clk-tck",
                str(os.sysconf("SC_CLK_TCK")),
                "--deadline",
                str(int(deadline)),
            ]
            for k, v in sc.extra.items():
                argv += [f"--{k}", v]
            if len(servers) > 1:
                argv += ["--port2", str(servers[1].port)]
            timeout = deadline + 10
        res = run_loadgen(argv, timeout, pin)
        add_cpu_per_op(sc, res)
        for node in servers:
            if node.proc.poll() is not None:
                res = {"ok": False, "error": f"server died: {node.tail()}", **res}
        status = "ok" if res.get("ok") else "failed"
        if sc.kind == "verify":
            res.setdefault("metrics", {})["ok"] = 1.0 if res.get("ok") else 0.0
            if not res.get("ok"):
                bad = [c["name"] for c in res.get("checks", []) if not c.get("ok")]
                res["error"] = res.get("error") or f"checks failed: {', '.join(bad)}"
        return {**res, **record, "status": status}
    finally:
        for node in servers:
            node.stop()
        if redis is not None:
            redis.stop()


def add_cpu_per_op(sc: Scenario, res: dict[str, Any]) -> None:
    """Server CPU µs per unit of a rate metric (per ack, connection, delivery), per run:
    what the server pays for one, whether or not it was the bottleneck."""
    metrics = res.get("metrics") or {}
    rate, cpu = metrics.get(sc.metric), res.get("server_cpu_pct")
    if sc.metric.endswith("_per_s") and rate and cpu is not None:
        metrics["cpu_us_per_op"] = cpu / 100 / rate * 1e6


# ---------------------------------------------------------------------------
# summary and table


def median_or_none(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["scenario"], r["format"], r["server"]), []).append(r)
    out = []
    for (scn, fmt, srv), rs in groups.items():
        ok = [r for r in rs if r.get("status") == "ok"]
        row: dict[str, Any] = {"scenario": scn, "format": fmt, "server": srv, "reps": len(ok)}
        if ok:
            keys = {
                k
                for r in ok
                for k, v in r.get("metrics", {}).items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            row["metrics"] = {
                k: median_or_none([r["metrics"].get(k) for r in ok]) for k in sorted(keys)
            }
            row["lg_cpu_pct"] = median_or_none([r.get("lg_cpu_pct") for r in ok])
            row["server_cpu_pct"] = median_or_none([r.get("server_cpu_pct") for r in ok])
            row["status"] = "ok"
        else:
            last = rs[-1]
            row["status"] = last.get("status", "failed")
            row["error"] = last.get("error", "")
        out.append(row)
    return out


def fmt_num(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    if abs(v) >= 100:
        s = f"{v:,.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return f"{s} {unit}".rstrip()


def ratio(v: float | None, ref: float | None) -> str:
    if v is None or ref is None or ref == 0:
        return "-"
    return f"{v / ref:.2f}x"


def detail(sc: Scenario, m: dict[str, Any], ref: dict[str, Any] | None) -> str:
    if sc.kind == "verify":
        return "stock socket.io-client frames match"
    if sc.kind == "idle":
        rss = m.get("rss_kib_per_conn")
        r = ratio(rss, ref.get("rss_kib_per_conn")) if ref else "-"
        return f"RSS {fmt_num(rss)} KiB/conn ({r}), {m.get('connected', 0):.0f} conn"
    if sc.kind == "mixed":
        return (
            f"p50 {fmt_num(m.get('p50_ms'))} ms; p99 json {fmt_num(m.get('json_p99_ms'))}"
            f" / msgpack {fmt_num(m.get('msgpack_p99_ms'))} ms"
        )
    parts = [f"p50 {fmt_num(m.get('p50_ms'))} ms", f"p99 {fmt_num(m.get('p99_ms'))} ms"]
    if sc.kind == "bcast-rate":
        parts = [parts[0], f"delivered {100 * (m.get('delivered_ratio') or 0):.1f}%"]
    return ", ".join(parts)


def render_table(summary: list[dict[str, Any]], order: list[tuple[str, str, str]]) -> str:
    by_key = {(r["scenario"], r["format"], r["server"]): r for r in summary}
    headers = ["scenario", "format", "server", "result", "vs node", "detail", "LG cpu%", "srv cpu%"]
    headers.append("srv µs/op (vs node)")
    rows = []
    for key in order:
        r = by_key.get(key)
        if r is None:
            continue
        sc = SCENARIOS[r["scenario"]]
        if r["status"] != "ok":
            if r["status"] == "unavailable":
                text = "not available (see below)"
            elif r["status"] == "n/a":
                why = r.get("error", "")
                text = "n/a (one format per endpoint)" if "one parser" in why else f"n/a ({why})"
            else:
                text = f"FAILED ({str(r.get('error', ''))[:60]})"
            rows.append([r["scenario"], r["format"], r["server"], text, "", "", "", "", ""])
            continue
        m = r["metrics"]
        ref_row = by_key.get((r["scenario"], r["format"], "node"))
        ref = ref_row["metrics"] if ref_row and ref_row["status"] == "ok" else None
        if sc.baseline:  # two nodes: compare with the same server on one node
            base = by_key.get((sc.baseline, r["format"], r["server"]))
            ref = base["metrics"] if base and base["status"] == "ok" else None
        if sc.kind == "verify":
            value, vs = ("ok" if m.get("ok") else "FAIL"), ""
        else:
            value = fmt_num(m.get(sc.metric), sc.unit)
            vs = ratio(m.get(sc.metric), ref.get(sc.metric)) if ref else "-"
            if sc.baseline and vs != "-":
                vs += " 1-node"
        lg = r.get("lg_cpu_pct")
        lg_s = "-" if lg is None else f"{lg:.0f}{'!' if lg >= 90 else ''}"
        srv = r.get("server_cpu_pct")
        per_op = m.get("cpu_us_per_op")
        node_row = by_key.get((r["scenario"], r["format"], "node"))
        node_op = node_row.get("metrics", {}).get("cpu_us_per_op") if node_row else None
        per_op_s = "-" if per_op is None else f"{fmt_num(per_op)} ({ratio(per_op, node_op)})"
        rows.append(
            [
                r["scenario"],
                r["format"],
                r["server"],
                value,
                vs,
                detail(sc, m, ref),
                lg_s,
                "-" if srv is None else f"{srv:.0f}",
                per_op_s,
            ]
        )
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(headers)
    ]
    lines = [
        " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    for row in rows:
        # long error texts go in the result column; do not stretch the rest
        lines.append(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--servers", default="node,pysio,socketsvc")
    p.add_argument("--formats", default="json,msgpack")
    p.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=f"comma list of: {', '.join(SCENARIOS)} (default: all but verify, "
        "which runs in --smoke and whenever listed)",
    )
    p.add_argument("--reps", type=int, default=3)
    p.add_argument(
        "--duration",
        type=float,
        default=5.0,
        help="seconds measured per timed scenario (default 5)",
    )
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument(
        "--smoke",
        action="store_true",
        help="seconds-long harness check: tiny client counts, 1 rep, 1 s scenarios, "
        "both formats, verify included; exit 1 if a started server gave no "
        "result for a scenario",
    )
    p.add_argument("--out", help="write all runs and the summary as JSON to this file")
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run socketsvc from another checkout (e.g. `git worktree add /tmp/base "
        "main`) as server 'baseline', interleaved with the others: an A/B of a change",
    )
    a = p.parse_args(argv)
    if a.baseline:
        if not os.path.isfile(os.path.join(a.baseline, "socketsvc", "__main__.py")):
            p.error(f"--baseline {a.baseline!r} is not a socketsvc checkout")
        root = os.path.abspath(a.baseline)
        SERVERS["baseline"] = dataclasses.replace(SERVERS["socketsvc"], name="baseline", root=root)
        a.servers += ",baseline"
    if a.smoke:
        a.reps, a.duration, a.warmup = 1, 0.5, 0.1
        if "verify" not in a.scenarios.split(","):
            a.scenarios = "verify," + a.scenarios
    a.server_list = [s for s in a.servers.split(",") if s]
    a.format_list = [f for f in a.formats.split(",") if f]
    a.scenario_list = [s for s in a.scenarios.split(",") if s]
    for s in a.server_list:
        if s not in SERVERS:
            p.error(f"unknown server {s!r}; choose from {', '.join(SERVERS)}")
    for f in a.format_list:
        if f not in ("json", "msgpack"):
            p.error(f"unknown format {f!r}")
    for s in a.scenario_list:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s!r}; choose from {', '.join(SCENARIOS)}")
    if not (1 <= a.reps <= 20) or not (0.2 <= a.duration <= 120):
        p.error("--reps must be 1..20 and --duration 0.2..120 s")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pin = pinning_available() and not args.no_pin
    if not pin:
        print("note: not pinning (taskset missing, <2 CPUs or --no-pin)", file=sys.stderr)
    if not os.path.isdir(os.path.join(REPO_ROOT, "clients", "js", "node_modules", "ws")):
        print("error: run `cd clients/js && npm ci` first", file=sys.stderr)
        return 2

    # (scenario, format) cells in table order; mixed runs once, format "mixed"
    cells: list[tuple[Scenario, str]] = []
    for name in args.scenario_list:
        sc = SCENARIOS[name]
        if sc.nodes > 1 and args.smoke:
            if sc.name == "bcast-2node-max":  # smoke: one two-node run checks that harness
                cells.append((sc, args.format_list[0]))
            continue
        cells += [(sc, "mixed")] if sc.mixed else [(sc, f) for f in args.format_list]
    order = [(sc.name, f, s) for sc, f in cells for s in args.server_list]

    runs: list[dict[str, Any]] = []
    unavailable: dict[str, str] = {}
    t_start = time.monotonic()
    for rep in range(1, args.reps + 1):
        for sc, fmt in cells:
            if sc.kind == "verify" and rep > 1:
                continue  # a correctness check; once is enough
            for name in args.server_list:  # interleaved: A, B, C, A, B, C, ...
                spec = SERVERS[name]
                if name in unavailable:
                    rec = {
                        "scenario": sc.name,
                        "format": fmt,
                        "server": name,
                        "status": "unavailable",
                        "ok": False,
                        "error": unavailable[name],
                    }
                else:
                    t0 = time.monotonic()
                    rec = run_one(sc, spec, "json" if fmt == "mixed" else fmt, args, pin)
                    rec["format"] = fmt
                    rec["wall_s"] = round(time.monotonic() - t0, 2)
                    if rec["status"] == "unavailable":
                        unavailable[name] = rec["error"]
                rec["rep"] = rep
                runs.append(rec)
                what = rec["status"] if rec["status"] != "ok" else "ok"
                err = f" ({rec.get('error')})" if rec["status"] not in ("ok", "n/a") else ""
                print(
                    f"[{time.monotonic() - t_start:6.1f}s] rep {rep} {sc.name} {fmt} {name}: "
                    f"{what}{err}",
                    file=sys.stderr,
                    flush=True,
                )

    summary = summarise(runs)
    print()
    print(
        f"Socket.IO server benchmark: median of {args.reps} rep(s), "
        f"{args.duration:g}s per timed scenario, server on CPU {SERVER_CPU}, "
        f"load generator on CPU {LOADGEN_CPU}{'' if pin else ' (NOT pinned)'}"
    )
    several = [n for n in args.server_list if SERVERS[n].cpus != SERVER_CPU]
    if several:
        print(
            f"{', '.join(several)}: several processes on CPUs {SERVERS[several[0]].cpus}, "
            "sharing them with the load generator; srv cpu% sums every process (200 = both)"
        )
    print(
        "vs node = value / node value (higher is better for /s, lower for ms); "
        "LG cpu% = load generator CPU during the window ('!' = >=90%, near its limit)"
    )
    print()
    print(render_table(summary, order))
    for name, why in unavailable.items():
        print(f"{name}: not available ({why})")
    print(f"\ntotal {time.monotonic() - t_start:.0f}s")

    if args.out:
        with open(args.out, "w") as fh:
            json.dump(
                {
                    "args": {
                        k: v
                        for k, v in vars(args).items()
                        if isinstance(v, str | int | float | list | bool | None)
                    },
                    "pinned": pin,
                    "runs": runs,
                    "summary": summary,
                },
                fh,
                indent=2,
            )

    if args.smoke:
        missing = [r for r in summary if r["status"] == "failed"]
        for r in missing:
            print(
                f"smoke: no result for {r['scenario']} {r['format']} {r['server']}: "
                f"{r.get('error')}",
                file=sys.stderr,
            )
        return 1 if missing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
