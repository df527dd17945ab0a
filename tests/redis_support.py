"""A real ``redis-server`` for the tests: started on a free 127.0.0.1 port, stopped at the end.

``SOCKETSVC_TEST_REDIS_URL`` points the shared fixture at an existing Redis instead. Without
``redis-server`` (and without that variable) Redis tests skip, except under ``CI`` where they
fail: CI must install the Debian package ``redis-server``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.tools import require_executable

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisProcess:
    """One ``redis-server`` without persistence; can be stopped and started on the same port."""

    def __init__(self, binary: str, port: int | None = None) -> None:
        self.binary = binary
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", HOST, "--save", ""]
        argv += ["--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while not ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                tail = self.log.read().decode(errors="replace")[-500:]
                self.stop()
                raise RuntimeError(f"redis-server did not start on {self.port}: {tail}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        self.log.close()


def redis_binary() -> str:
    return require_executable("redis-server", hint="apt-get install -y redis-server")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of the Redis shared by the session's tests (each test uses its own key prefix)."""
    given = os.environ.get("SOCKETSVC_TEST_REDIS_URL")
    if given:
        yield given
        return
    server = RedisProcess(redis_binary())
    server.start()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    """A Redis of this test's own, which the test may stop and restart."""
    server = RedisProcess(redis_binary())
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix (and bus channel) no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"
