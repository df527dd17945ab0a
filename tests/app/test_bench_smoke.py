"""End-to-end smoke test of the bench/ harness.

Runs ``python bench/run.py --smoke`` against the Node.js reference and stock
python-socketio and socketsvc, and checks that the harness
works and prints the expected rows. It never asserts anything about speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools import require_executable, require_path

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_MODULES = Path(REPO_ROOT) / "clients" / "js" / "node_modules"

SCENARIO_ROWS = [
    ("verify", "json"),
    ("verify", "msgpack"),
    ("ack-echo-50", "json"),
    ("ack-echo-50", "msgpack"),
    ("ack-echo-500", "json"),
    ("ack-echo-500", "msgpack"),
    ("bcast-1000-rate", "json"),
    ("bcast-1000-rate", "msgpack"),
    ("bcast-1000-max", "json"),
    ("bcast-1000-max", "msgpack"),
    ("idle-5k", "json"),
    ("idle-5k", "msgpack"),
    ("idle-10k", "json"),
    ("idle-10k", "msgpack"),
    ("mixed-1000", "mixed"),
]


def _table_rows(stdout: str) -> dict[tuple[str, str, str], str]:
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) >= 4 and cells[0] in {s for s, _ in SCENARIO_ROWS}:
            rows[(cells[0], cells[1], cells[2])] = cells[3]
    return rows


@pytest.mark.timeout(330)
def test_bench_smoke() -> None:
    require_executable("node")
    require_path(NODE_MODULES / "ws", "clients/js/node_modules/ws (npm ci in clients/js)")
    servers = ["node", "pysio", "socketsvc"]
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "--smoke", "--servers", ",".join(servers)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # a bound, not a speed check: seconds alone, minutes on a busy machine
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"

    rows = _table_rows(proc.stdout)
    for scenario, fmt in SCENARIO_ROWS:
        for server in servers:
            assert (scenario, fmt, server) in rows, f"missing row {scenario} {fmt} {server}"
            result = rows[(scenario, fmt, server)]
            assert "FAILED" not in result, (scenario, fmt, server, result)
            assert not result.startswith("not available"), (server, result)
            if scenario == "mixed-1000" and server != "socketsvc":
                assert result.startswith("n/a"), result
            elif scenario == "verify":
                assert result == "ok", (fmt, server, result)
            else:
                assert result[0].isdigit(), (scenario, fmt, server, result)


@pytest.mark.timeout(200)
def test_conncost_smoke() -> None:
    """bench/conncost.py (the per-connection ledger) runs end to end: msgpack plain, JSON with
    the memory view (tracemalloc makes that one slow)."""
    require_executable("node")
    require_path(NODE_MODULES / "ws", "clients/js/node_modules/ws (npm ci in clients/js)")
    checkout = os.path.basename(REPO_ROOT)
    for fmt, extra in (("msgpack", []), ("json", ["--memory", "--frames", "5", "--top", "5"])):
        argv = ["--clients", "20", "--batch", "10", "--reps", "1", "--formats", fmt, *extra]
        proc = subprocess.run(
            [sys.executable, "bench/conncost.py", *argv],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=90,  # a bound, not a speed check
        )
        assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        lines = proc.stdout.splitlines()
        row = next(line for line in lines if line.startswith(f"{checkout} | {fmt} |"))
        cells = [c.strip() for c in row.split("|")]
        assert all(c.replace(",", "").replace(".", "").lstrip("-").isdigit() for c in cells[2:])
        if extra:
            assert f"{fmt}: bytes per connection by line" in proc.stdout


def test_bus_shards_smoke() -> None:
    """bench/bus_shards.py (issue #28's table) runs end to end on a few rooms: on one channel a
    node hears the other nodes' emits, sharded only its own rooms'."""
    require_executable("redis-server")
    proc = subprocess.run(
        [sys.executable, "bench/bus_shards.py", "--rooms", "9", "--nodes", "3"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # a bound, not a speed check
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    # node 0: 3 rooms; on one channel it hears the 6 emits of the others, sharded its 3
    assert "| 0 | 3 | 6 | 3 |" in proc.stdout
    assert "| all | 9 | 18 | 9 |" in proc.stdout
