#!/usr/bin/env python3
"""What one idle connection costs a socketsvc node: server CPU to connect it, and the memory
it keeps (the per-connection ledger; stdlib only).

    python bench/conncost.py                                  # this checkout, 2000 clients, 3 reps
    python bench/conncost.py --checkout /tmp/base --checkout .  # A/B, interleaved
    python bench/conncost.py --memory --top 25                # + tracemalloc and object counts
    python bench/conncost.py --profile pyspy --clients 3000   # + a py-spy profile of connecting
    python bench/conncost.py --profile callgrind --clients 300 --batch 20   # + instructions

Each measurement starts a fresh server (``socketsvc serve`` with bench/socketsvc.toml, the
benchmark's settings, run by this script's child mode so that it can take snapshots) pinned to
CPU 0, takes a snapshot, connects ``--clients`` websocket clients with bench/hold.mjs on CPU 1
(the idle scenario's raw client and batches), waits a second, takes another snapshot and
closes them. Per connection it reports the server's CPU time between the snapshots, VmRSS
growth, and with ``--memory`` the bytes tracemalloc sees still allocated after a full
collection (by source line, attributed to the innermost line of the checkout's own code that
led to the allocation) and the growth in garbage-collected objects by type. CPU time and
instruction counts do not depend on how fast the other core answers, so they are the figures
to compare on a shared machine; tracemalloc and object counts are exact.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import gc
import json
import linecache
import os
import runpy
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
HOST = "127.0.0.1"


# ---------------------------------------------------------------------------
# child: the server, with a SIGUSR1 snapshot


def child(args: argparse.Namespace) -> None:
    """Run ``socketsvc serve`` from ``args.checkout``; each SIGUSR1 appends a snapshot."""
    root = os.path.abspath(args.checkout[-1])
    sys.path[0:1] = [root]  # this checkout's socketsvc (and its bench.handlers)
    os.chdir(root)
    if args.tracemalloc:
        tracemalloc.start(args.tracemalloc)
    profiler = cProfile.Profile() if args.cprofile else None
    count = 0
    collections_seen = [0, 0, 0]  # garbage collections by generation, and their time
    gc_seconds = 0.0
    gc_started = 0.0

    def on_gc(phase: str, info: dict[str, int]) -> None:
        nonlocal gc_seconds, gc_started
        if phase == "start":
            gc_started = time.perf_counter()
        else:
            gc_seconds += time.perf_counter() - gc_started
            collections_seen[info["generation"]] += 1

    gc.callbacks.append(on_gc)

    def snapshot(signum: int, frame: Any) -> None:
        nonlocal count
        count += 1
        if profiler is not None and count == 2:
            profiler.disable()
        record: dict[str, Any] = {"cpu0": time.process_time(), "rss_kib": rss_kib()}
        record["gc_seconds"] = gc_seconds
        record["gc_runs"] = list(collections_seen)
        if args.tracemalloc:
            record["traced_before_gc"] = tracemalloc.get_traced_memory()[0]
            gc.collect()
            record["traced"] = tracemalloc.get_traced_memory()[0]
            path = f"{args.report}.{count}.snap"
            tracemalloc.take_snapshot().dump(path)
            record["snapshot"] = path
            record["objects"] = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
            record["rss_after_gc_kib"] = rss_kib()
        if profiler is not None:  # on between the first two snapshots
            if count == 1:
                profiler.enable()
            elif count == 2:
                profiler.disable()
                profiler.dump_stats(args.cprofile)
        record["cpu1"] = time.process_time()
        with open(args.report, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    signal.signal(signal.SIGUSR1, snapshot)
    sys.argv = ["socketsvc", "serve", "--host", HOST, "--port", str(args.port)]
    sys.argv += ["--serializer", args.format, "--config", "bench/socketsvc.toml"]
    sys.argv += ["--log-level", "warning"]
    runpy.run_module("socketsvc", run_name="__main__", alter_sys=True)


def rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------------------
# driver


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def pinned(cpu: str, argv: list[str], pin: bool) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if pin else argv


class Server:
    def __init__(self, checkout: str, fmt: str, args: argparse.Namespace, workdir: str) -> None:
        self.port = free_port()
        self.report = os.path.join(workdir, f"report-{self.port}.jsonl")
        argv = [sys.executable, os.path.abspath(__file__), "--child", "--checkout", checkout]
        argv += ["--port", str(self.port), "--format", fmt, "--report", self.report]
        if args.memory:
            argv += ["--tracemalloc", str(args.frames)]
        if args.profile == "cprofile":
            out = f"cprofile-{label(checkout)}-{fmt}-{self.port}.prof"
            argv += ["--cprofile", os.path.join(os.path.abspath(args.profile_dir), out)]
        self.callgrind_out = os.path.join(workdir, f"callgrind-{self.port}.out")
        if args.profile == "callgrind":
            argv = [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={self.callgrind_out}",
                *argv,
            ]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            pinned("0", argv, args.pin),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.taken = 0

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.tail()}")
            with contextlib.suppress(OSError):
                socket.create_connection((HOST, self.port), 0.2).close()
                return
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout:.0f}s: {self.tail()}")

    def snapshot(self, timeout: float = 300) -> dict[str, Any]:
        self.taken += 1
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines: list[str] = []
            with contextlib.suppress(FileNotFoundError), open(self.report) as fh:
                lines = fh.read().splitlines()
            if len(lines) >= self.taken and lines[self.taken - 1].endswith("}"):
                return dict(json.loads(lines[self.taken - 1]))
            time.sleep(0.05)
        raise RuntimeError(f"no snapshot within {timeout:.0f}s: {self.tail()}")

    def tail(self) -> str:
        self.log.seek(0)
        lines = [ln for ln in self.log.read().decode(errors="replace").splitlines() if ln.strip()]
        return " | ".join(lines[-3:]) or "no output"

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()


def measure(checkout: str, fmt: str, args: argparse.Namespace, workdir: str) -> dict[str, Any]:
    server = Server(checkout, fmt, args, workdir)
    hold: subprocess.Popen[str] | None = None
    profiler: subprocess.Popen[bytes] | None = None
    try:
        server.wait_ready(180 if args.profile == "callgrind" else 60)
        time.sleep(0.5)  # let start-up settle
        before = server.snapshot()
        if args.profile == "callgrind":
            subprocess.run(["callgrind_control", "-i", "on", str(server.proc.pid)], check=True)
        elif args.profile == "pyspy":
            out = os.path.join(args.profile_dir, f"pyspy-{label(checkout)}-{fmt}-{server.port}.txt")
            spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
            argv = [spy, "record", "-r", str(args.rate), "-f", "raw", "-o", out]
            profiler = subprocess.Popen(
                [*argv, "-p", str(server.proc.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # py-spy attaches
        hold_argv = ["node", os.path.join(BENCH_DIR, "hold.mjs"), "--port", str(server.port)]
        hold_argv += ["--format", fmt, "--clients", str(args.clients), "--batch", str(args.batch)]
        hold = subprocess.Popen(
            pinned("1", hold_argv, args.pin),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert hold.stdout is not None
        line = hold.stdout.readline()
        if not line.startswith("{"):
            raise RuntimeError(f"hold.mjs: {line!r}; server: {server.tail()}")
        connected = json.loads(line)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
            profiler = None
        if args.profile == "callgrind":
            subprocess.run(["callgrind_control", "-i", "off", str(server.proc.pid)], check=True)
        time.sleep(1.0)  # settle, as the idle scenario does
        after = server.snapshot()
        n = connected["connected"]
        if not n:
            raise RuntimeError(f"no client connected: {connected.get('firstError')}")
        result: dict[str, Any] = {
            "checkout": checkout,
            "format": fmt,
            "clients": n,
            "failures": connected["failures"],
            "conn_per_s": n / connected["wall_s"],
            "cpu_us_per_conn": (after["cpu0"] - before["cpu1"]) / n * 1e6,
            "rss_kib_per_conn": (after["rss_kib"] - before["rss_kib"]) / n,
            "gc_us_per_conn": (after["gc_seconds"] - before["gc_seconds"]) / n * 1e6,
            "gc_runs": [a - b for a, b in zip(after["gc_runs"], before["gc_runs"], strict=True)],
        }
        if args.memory:
            result["traced_bytes_per_conn"] = (after["traced"] - before["traced"]) / n
            result["garbage_bytes_per_conn"] = (
                after["traced_before_gc"]
                - after["traced"]
                - (before["traced_before_gc"] - before["traced"])
            ) / n
            objects = collections.Counter(after["objects"])
            objects.subtract(before["objects"])
            result["objects_per_conn"] = {k: v / n for k, v in objects.most_common() if v > n / 20}
            result["lines"] = attribute(before["snapshot"], after["snapshot"], checkout, n)
        return result
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(timeout=30)
        if hold is not None:
            with contextlib.suppress(OSError):
                assert hold.stdin is not None
                hold.stdin.close()
            try:
                hold.wait(timeout=30)
            except subprocess.TimeoutExpired:
                hold.kill()
        server.stop()


def measure_and_count(
    checkout: str, fmt: str, args: argparse.Namespace, workdir: str
) -> dict[str, Any]:
    """``measure``, plus the instructions of the connect window under callgrind (written
    when the server exits)."""
    result = measure(checkout, fmt, args, workdir)
    if args.profile == "callgrind":
        out = [f for f in os.listdir(workdir) if f.startswith("callgrind-")]
        kept = os.path.join(args.profile_dir, f"callgrind-{label(checkout)}-{fmt}.out")
        shutil.move(os.path.join(workdir, out[0]), kept)
        result["instructions_per_conn"] = callgrind_total(kept) / result["clients"]
    return result


def callgrind_total(path: str) -> int:
    total = 0
    with open(path) as fh:
        for line in fh:
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total


def attribute(before: str, after: str, checkout: str, n: int) -> list[tuple[str, float, float]]:
    """Bytes and blocks per connection still allocated, by the innermost line of the
    checkout's own code on the allocation's stack (else the innermost line at all)."""
    old = tracemalloc.Snapshot.load(before)
    new = tracemalloc.Snapshot.load(after)
    root = os.path.join(os.path.abspath(checkout), "")
    sizes: dict[str, list[float]] = {}
    for diff in new.compare_to(old, "traceback"):
        if not diff.size_diff and not diff.count_diff:
            continue
        frames = list(diff.traceback)  # oldest first
        own = [
            f for f in frames if f.filename.startswith(root) and "site-packages" not in f.filename
        ]
        where = (own or frames)[-1]
        inner = frames[-1]
        name = where.filename.removeprefix(root)
        key = f"{name}:{where.lineno}"
        if where is not inner:
            key += f" -> {os.path.basename(inner.filename)}:{inner.lineno}"
        entry = sizes.setdefault(key, [0.0, 0.0])
        entry[0] += diff.size_diff / n
        entry[1] += diff.count_diff / n
    rows = sorted(sizes.items(), key=lambda kv: -abs(kv[1][0]))
    return [(k, size, count) for k, (size, count) in rows]


def label(checkout: str) -> str:
    return os.path.basename(os.path.abspath(checkout)) or "root"


def source(key: str, checkout: str) -> str:
    path, _, rest = key.partition(":")
    lineno = int(rest.split()[0])
    full = path if os.path.isabs(path) else os.path.join(checkout, path)
    return linecache.getline(full, lineno).strip()[:70]


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["checkout"], r["format"]), []).append(r)
    keys = ["cpu_us_per_conn", "gc_us_per_conn", "rss_kib_per_conn", "conn_per_s"]
    if args.memory:
        keys += ["traced_bytes_per_conn", "garbage_bytes_per_conn"]
    if args.profile == "callgrind":
        keys += ["instructions_per_conn"]
    print(f"\nper connection, median of {args.reps} ({args.clients} clients each):")
    print(" | ".join(["checkout", "format", *keys]))
    for (checkout, fmt), rs in groups.items():
        cells = []
        for k in keys:
            vals = [r[k] for r in rs if r.get(k) is not None]
            cells.append(f"{statistics.median(vals):,.1f}" if vals else "-")
        print(" | ".join([label(checkout), fmt, *cells]))
    if not args.memory:
        return
    for (checkout, fmt), rs in groups.items():
        r = rs[-1]
        print(f"\n{label(checkout)} {fmt}: bytes per connection by line (last rep)")
        for key, size, count in r["lines"][: args.top]:
            print(f"{size:8.1f} B {count:6.2f} blk  {key}  | {source(key, checkout)}")
        print(f"{label(checkout)} {fmt}: gc objects per connection")
        print(", ".join(f"{k} {v:.2f}" for k, v in r["objects_per_conn"].items()))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkout", action="append", help="socketsvc checkout(s) (default: this one)")
    p.add_argument("--formats", default="json", help="json,msgpack")
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--batch", type=int, default=200, help="handshakes in flight at once")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--memory", action="store_true", help="tracemalloc and object counts")
    p.add_argument("--frames", type=int, default=30, help="tracemalloc frames kept")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--profile", choices=["pyspy", "callgrind", "cprofile"], default=None)
    p.add_argument("--rate", type=int, default=300, help="py-spy samples per second")
    p.add_argument("--profile-dir", default=".", help="where profiles are written")
    p.add_argument("--no-pin", dest="pin", action="store_false")
    p.add_argument("--json", help="write every result to this file")
    # child mode (the server)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--format", help=argparse.SUPPRESS)
    p.add_argument("--report", help=argparse.SUPPRESS)
    p.add_argument("--tracemalloc", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--cprofile", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0
    args.pin = args.pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    checkouts = [os.path.abspath(c) for c in (args.checkout or [REPO_ROOT])]
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for rep in range(args.reps):
            for fmt in args.formats.split(","):
                for checkout in checkouts:
                    r = measure_and_count(checkout, fmt, args, workdir)
                    results.append(r)
                    print(
                        f"rep {rep + 1} {label(checkout)} {fmt}: "
                        f"{r['cpu_us_per_conn']:.0f} us, {r['rss_kib_per_conn']:.2f} KiB"
                        + (f", {r['traced_bytes_per_conn']:.0f} B traced" if args.memory else "")
                        + (
                            f", {r['instructions_per_conn']:,.0f} Ir"
                            if "instructions_per_conn" in r
                            else ""
                        ),
                        flush=True,
                    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
