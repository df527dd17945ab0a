#!/usr/bin/env python3
"""The cost ledger of one event: where the server's time goes, stage by stage (stdlib only).

    python bench/ledger.py                                   # this checkout, json + msgpack
    python bench/ledger.py --baseline /tmp/before            # beside another checkout
    python bench/ledger.py --quick --baseline /tmp/before    # instructions only: ~1 minute

Two measurements per checkout and wire format:

* **Instructions per event** (needs valgrind): the server runs under callgrind with
  instrumentation off until one raw client (``ledger_client.mjs``) has warmed it up; then
  exactly ``--events`` echo events with ack, one at a time, are counted. The count is
  deterministic (the same on a busy machine, run after run), so a change of 1 % is visible:
  this is the check to run before and after a change to the per-event path.
* **Microseconds per stage** (needs py-spy): the ack-echo load of ``bench/run.py`` (50
  clients, 4 events in flight each), the server's CPU time per ack, and a sampling profile of
  the server split into the stages an event goes through. Each sample goes to the stage of
  its innermost frame that a stage claims; the stage's share of the samples times the CPU
  time per ack is its cost. Stages are told by function and module names, which also cover
  the code before issue #12 (``--baseline`` with an older checkout).

Both measure the running server as users run it (uvloop, metrics on, the benchmark's
settings), not parts in isolation: isolated parts miss the loop, the allocator and the
caches, and could not run the older code, whose parts have other shapes.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # the benchmark's server and load-generator helpers

HOST = bench.HOST

# Stage rules, tried on a sample's frames from the innermost outwards: the first frame that
# matches a rule gives the sample its stage. A pattern is matched against "function (file)".
STAGES: list[tuple[str, str]] = [
    ("metrics", r"(socketsvc/app/metrics\.py|socketsvc/sio/observer\.py|socketsvc/metrics)"),
    ("task start", r"(socketsvc/sio/tasks\.py|asyncio/tasks\.py|_start_event)"),
    (
        "handler and its arguments",
        r"(bench/handlers\.py|BaseNamespace\.(resolve|dispatch)|handlers/(checks|schema)\.py)",
    ),
    (
        "ack encode",
        r"(encode_frames|dumps|exact_dumps|JsonPacket\.encode|MsgPackPacket\.encode|_escape"
        r"|json/encoder\.py)",
    ),
    (
        "write",
        r"(EngineServer\.push|push_message|enqueue|ws_frame|WriteCoalescer|can_write_now|"
        r"has_room|_ws_writer|SocketServer\._send|PacketReader\.encode|format_of)",
    ),
    (
        "decode and safety checks",
        r"(PacketReader\.(read|_decode)|json_format\.py|msgpack_format\.py|packets\.py|"
        r"json/(decoder|scanner)\.py|_decode \(|unpack)",
    ),
    (
        "dispatch and limits",
        r"(EventDispatcher|socketsvc/security/|socketio/base_manager\.py|bidict/|_ack \("
        r"|error_code|_require_connected|message_now)",
    ),
    (
        "frame read and routing",
        r"(socketsvc/engine/direct\.py|engine/inbox\.py|_deliver|deliver_message|"
        r"handle_message|aiohttp/web_protocol\.py|aiohttp/_websocket)",
    ),
]
LOOP = "event loop, sockets, the rest"


# ---------------------------------------------------------------------------
# instructions per event (callgrind)


def instructions(root: str, fmt: str, events: int, python: str) -> float:
    """Instructions the server executes per echo event with ack (deterministic)."""
    port = bench.free_port()
    out = tempfile.mkdtemp(prefix="ledger-")
    env = {**os.environ, "PYTHONPATH": root, "PYTHONHASHSEED": "0"}
    server = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}/cg.%p",
            python,
            *server_args(port, fmt),
        ],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    driver = None
    try:
        wait_for_port(port, server, 300)
        argv = ["node", "bench/ledger_client.mjs", "--port", str(port), "--format", fmt]
        argv += ["--events", str(events), "--deadline", "600"]
        driver = subprocess.Popen(
            argv,
            cwd=bench.REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert driver.stdin is not None and driver.stdout is not None
        expect(driver.stdout.readline(), "warm")
        control(server.pid, "-i", "on")
        driver.stdin.write("go\n")
        driver.stdin.flush()
        done = driver.stdout.readline()
        control(server.pid, "-i", "off")
        expect(done, "done")
        counted = int(done.split()[1])
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
        stop(server)
    total = 0
    for dump in Path(out).glob("cg.*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    shutil.rmtree(out, ignore_errors=True)
    return total / counted


def control(pid: int, *args: str) -> None:
    subprocess.run(
        ["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=60
    )


def expect(line: str, word: str) -> None:
    if not line.startswith(word):
        raise RuntimeError(f"ledger client: expected {word!r}, got {line.strip()!r}")


# ---------------------------------------------------------------------------
# microseconds per stage (py-spy on the ack-echo load)


def stages(root: str, fmt: str, python: str, duration: float, py_spy: str) -> dict[str, Any]:
    """Server CPU µs per ack under the ack-echo-50 load, and its split into stages."""
    port = bench.free_port()
    env = {**os.environ, "PYTHONPATH": root}
    server = subprocess.Popen(
        bench.pinned(bench.SERVER_CPU, [python, *server_args(port, fmt)], True),
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    raw = tempfile.mktemp(suffix=".txt", prefix="ledger-")
    try:
        wait_for_port(port, server, 30)
        argv = ["node", "bench/loadgen.mjs", "--scenario", "ack-echo", "--port", str(port)]
        argv += ["--format", fmt, "--clients", "50", "--window", "4", "--warmup", "1"]
        argv += ["--duration", str(duration), "--server-pid", str(server.pid)]
        argv += ["--clk-tck", str(os.sysconf("SC_CLK_TCK"))]
        load = subprocess.Popen(
            bench.pinned(bench.LOADGEN_CPU, argv, True),
            cwd=bench.REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        time.sleep(1.5)  # connected and warmed up
        spy = [py_spy, "record", "-r", "250", "-f", "raw", "-o", raw, "-p", str(server.pid)]
        spy += ["-d", str(max(1, int(duration - 1)))]
        subprocess.run(
            spy,
            capture_output=True,
            timeout=duration + 60,
        )
        out, _ = load.communicate(timeout=duration + 60)
    finally:
        stop(server)
    result = json.loads(out.strip().splitlines()[-1])
    if not result.get("ok"):
        raise RuntimeError(f"load generator: {result.get('error')}")
    acks = result["metrics"]["acks_per_s"]
    us_per_ack = result["server_cpu_pct"] / 100 / acks * 1e6
    shares = split(Path(raw).read_text())
    Path(raw).unlink(missing_ok=True)
    return {
        "us_per_ack": us_per_ack,
        "acks_per_s": acks,
        "stages": {name: share * us_per_ack for name, share in shares.items()},
    }


def split(collapsed: str) -> dict[str, float]:
    """Each stage's share of the samples in py-spy's collapsed stacks."""
    rules = [(name, re.compile(pattern)) for name, pattern in STAGES]
    counts: collections.Counter[str] = collections.Counter()
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        counts[stage_of(stack.split(";"), rules)] += int(n)
    total = sum(counts.values()) or 1
    return {name: counts[name] / total for name in [*(s for s, _ in STAGES), LOOP]}


def stage_of(frames: list[str], rules: list[tuple[str, re.Pattern[str]]]) -> str:
    for frame in reversed(frames):
        for name, rule in rules:
            if rule.search(frame):
                return name
    return LOOP


# ---------------------------------------------------------------------------
# helpers


def server_args(port: int, fmt: str) -> list[str]:
    return [
        "-m",
        "socketsvc",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--serializer",
        fmt,
        "--config",
        "bench/socketsvc.toml",
        "--log-level",
        "warning",
    ]


def wait_for_port(port: int, proc: subprocess.Popen[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            bench.socket.create_connection((HOST, port), 0.5).close()
            return
        time.sleep(0.2)
    raise RuntimeError(f"server not listening on {port} after {timeout:.0f}s")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--baseline", action="append", default=[], help="another checkout (repeat)")
    p.add_argument("--formats", default="json,msgpack")
    p.add_argument("--quick", action="store_true", help="instructions per event only")
    p.add_argument("--events", type=int, default=2000, help="events counted under callgrind")
    p.add_argument("--duration", type=float, default=4.0, help="seconds of load per profile")
    p.add_argument("--python", default=sys.executable, help="the server's interpreter")
    p.add_argument("--out", help="write the results as JSON")
    a = p.parse_args(argv)
    roots = {"this": bench.REPO_ROOT, **{Path(b).name or b: b for b in a.baseline}}
    for root in roots.values():
        if not (Path(root) / "socketsvc").is_dir():
            p.error(f"{root!r} is not a socketsvc checkout")
    have_valgrind = shutil.which("valgrind") is not None
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(a.python))
    jobs = [(fmt, name, root) for fmt in a.formats.split(",") for name, root in roots.items()]
    results: dict[str, Any] = {f"{fmt} {name}": {} for fmt, name, _ in jobs}
    if have_valgrind:  # two at a time: the counts do not depend on what else runs
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            counts = pool.map(lambda j: instructions(j[2], j[0], a.events, a.python), jobs)
            for (fmt, name, _), count in zip(jobs, counts, strict=True):
                results[f"{fmt} {name}"]["instructions"] = count
    for fmt, name, root in jobs:
        row = results[f"{fmt} {name}"]
        if not a.quick and py_spy:  # one at a time, pinned: CPU time is measured
            row.update(stages(root, fmt, a.python, a.duration, py_spy))
        print(f"{fmt} {name}: {summary(row)}", flush=True)
    if not have_valgrind:
        print("valgrind not installed: no instruction counts")
    if not a.quick and not py_spy:
        print("py-spy not installed (pip install py-spy): no stage split")
    print()
    print(table(results))
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=2))
    return 0


def summary(row: dict[str, Any]) -> str:
    parts = []
    if "instructions" in row:
        parts.append(f"{row['instructions']:,.0f} instructions/event")
    if "us_per_ack" in row:
        parts.append(f"{row['us_per_ack']:.2f} µs CPU/ack at {row['acks_per_s']:,.0f} acks/s")
    return ", ".join(parts) or "nothing measured"


def table(results: dict[str, Any]) -> str:
    columns = list(results)
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    first = "instructions per event (callgrind, one at a time)"
    lines.append(f"| {first} | " + " | ".join(cell(results[c], "instructions") for c in columns))
    lines.append("| µs CPU per ack (ack-echo-50) | ")
    lines[-1] += " | ".join(cell(results[c], "us_per_ack", 2) for c in columns) + " |"
    for stage in [*(s for s, _ in STAGES), LOOP]:
        values = [results[c].get("stages", {}).get(stage) for c in columns]
        if all(v is None for v in values):
            continue
        lines.append(f"| {stage} | " + " | ".join(num(v, 2) for v in values) + " |")
    lines[2] += " |"
    return "\n".join(lines)


def cell(row: dict[str, Any], key: str, digits: int = 0) -> str:
    return num(row.get(key), digits)


def num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


if __name__ == "__main__":
    sys.exit(main())
