#!/usr/bin/env python3
"""Memory after churn: does a node's RSS level off when clients keep coming and going?

    python bench/soak.py --cycles 20 --clients 5000                  # the soak (not in CI)
    python bench/soak.py --cycles 4 --clients 100 --batch 10 --tracemalloc 6   # what is kept

Starts one socketsvc node as operators run it (``socketsvc serve``: uvloop, GC tuning) with
the benchmark's limits off, then runs ``--cycles`` cycles. In each, ``bench/churn.mjs``
connects ``--clients`` stock socket.io-client clients to ``/chat`` (browser default: polling,
then upgrade; half JSON, half msgpack), each joins one of 50 rooms and says one message; all
stay connected until the last has spoken, then all close (``--no-hold``: each closes when it
is done). After the node reports no clients left, the node's RSS is printed, and at the end
the growth in the first and second half of the run. With ``--tracemalloc N`` the node traces
allocations (N frames; slow: use small batches) and after each cycle prints what is still
allocated compared with the end of the first cycle, biggest first.

Bounded: by the number of cycles, each churn by its own deadline, and the whole run by
``--max-seconds``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
HOST = "127.0.0.1"


# -- the node (run as ``soak.py --serve PORT``) -------------------------------------------------
def serve(port: int, frames: int, report: str) -> int:
    """``socketsvc serve`` with the bench config; SIGUSR1 writes what tracemalloc holds
    compared with the first SIGUSR1 to ``report``."""
    import gc
    import linecache
    import tracemalloc

    from socketsvc.cli import main

    baseline: list[Any] = []

    def dump(signum: int, frame: Any) -> None:
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [  # not what this report itself allocates
                tracemalloc.Filter(False, tracemalloc.__file__),
                tracemalloc.Filter(False, linecache.__file__),
                tracemalloc.Filter(False, __file__),
            ]
        )
        lines = ["(baseline taken)"]
        if not baseline:
            baseline.append(snapshot)
        else:
            lines = []
            for stat in snapshot.compare_to(baseline[0], "traceback")[:12]:
                lines.append(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
                lines += [f"      {line}" for line in stat.traceback.format()[-2 * frames :]]
        with open(report + ".part", "w") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(report + ".part", report)  # the driver waits for it: nothing runs meanwhile

    if frames:
        tracemalloc.start(frames)
        signal.signal(signal.SIGUSR1, dump)
    return main(
        [
            "serve",
            "--config",
            "bench/socketsvc.toml",
            "--host",
            HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    )


# -- the driver ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def clients_on(url: str) -> int:
    with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
        return int(json.load(r)["clients"])


def wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if condition():
                return True
        time.sleep(0.2)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--clients", type=int, default=5000, help="connects+closes per cycle")
    parser.add_argument("--batch", type=int, default=200, help="handshakes in flight")
    parser.add_argument("--transports", default="polling,websocket")
    parser.add_argument("--parser", default="mixed", choices=("json", "msgpack", "mixed"))
    parser.add_argument("--hold", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES")
    parser.add_argument("--max-seconds", type=float, default=3600)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve, args.tracemalloc, args.report)

    port = free_port()
    url = f"http://{HOST}:{port}"
    report = tempfile.NamedTemporaryFile(suffix=".txt", delete=False).name  # noqa: SIM115
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, os.path.abspath(__file__), "--serve", str(port)]
    command += ["--tracemalloc", str(args.tracemalloc), "--report", report]
    node = subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True)
    started = time.monotonic()
    try:
        if not wait_until(lambda: clients_on(url) == 0, 20):
            print("the node did not start", file=sys.stderr)
            return 1
        idle = rss_mib(node.pid)
        print(f"node pid {node.pid} on {url}; idle RSS {idle:.1f} MiB", flush=True)
        samples: list[float] = []
        for cycle in range(1, args.cycles + 1):
            left = args.max_seconds - (time.monotonic() - started)
            if left <= 0:
                print(f"stopping: --max-seconds {args.max_seconds:g} reached")
                break
            churn = subprocess.run(
                [
                    "node",
                    os.path.join(BENCH_DIR, "churn.mjs"),
                    "--url",
                    url,
                    "--clients",
                    str(args.clients),
                    "--batch",
                    str(args.batch),
                    "--transports",
                    args.transports,
                    "--parser",
                    args.parser,
                    "--deadline",
                    str(max(10, int(left))),
                    *(["--hold"] if args.hold else []),
                ],
                capture_output=True,
                text=True,
                timeout=left + 15,
            )
            lines = churn.stdout.strip().splitlines()
            result = json.loads(lines[-1]) if lines else {"ok": False, "error": churn.stderr}
            drained = wait_until(lambda: clients_on(url) == 0, 60)
            rss = rss_mib(node.pid)
            samples.append(rss)
            since = f" ({rss - samples[0]:+.1f} since cycle 1)" if cycle > 1 else ""
            print(
                f"cycle {cycle}/{args.cycles}: {result.get('connected', 0)} clients connected, "
                f"joined, spoke and closed{' together' if args.hold else ''}, "
                f"{result.get('failures', '?')} failed "
                f"({result.get('first_error') or result.get('error') or 'none'}) in "
                f"{result.get('seconds', 0):.1f}s; node drained: {drained}; "
                f"RSS {rss:.1f} MiB{since}",
                flush=True,
            )
            if args.tracemalloc:  # the node's loop stands still until the report is written
                os.kill(node.pid, signal.SIGUSR1)
                if not wait_until(lambda: os.path.getsize(report) > 0, 300):
                    print("  no tracemalloc report within 300 s")
                elif cycle > 1:
                    with open(report) as fh:
                        print("  still allocated compared with the end of cycle 1:\n" + fh.read())
                open(report, "w").close()
        if len(samples) >= 4:
            half = len(samples) // 2
            first = samples[half - 1] - samples[0]
            last = samples[-1] - samples[half - 1]
            per = last * 1024 / ((len(samples) - half) * args.clients / 1000)
            print(
                f"RSS per cycle (MiB): {', '.join(f'{s:.0f}' for s in samples)}; "
                f"growth in the first half {first:+.1f} MiB, in the second half {last:+.1f} MiB "
                f"({per:+.1f} KiB per 1000 connections)"
            )
        return 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGTERM)
        try:
            node.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait(timeout=5)
        with contextlib.suppress(OSError):
            os.unlink(report)


if __name__ == "__main__":
    sys.exit(main())
