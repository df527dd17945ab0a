"""Redis with failover for the tests: a primary, a replica and three ``redis-server --sentinel``
processes on free 127.0.0.1 ports, without persistence, stopped at the end."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.redis_support import HOST, free_port, ping, redis_binary
from tests.tools import require_executable

SERVICE = "socketsvc-test"
CREATE = ["--cluster-replicas", "0", "--cluster-yes"]  # redis-cli --cluster create


class Process:
    """One ``redis-server`` with ``argv`` after the binary; its output kept for a failure."""

    def __init__(self, binary: str, port: int, argv: list[str], log: Path) -> None:
        self.port, self.log = port, log
        with log.open("wb") as out:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                [binary, *argv], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_up(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis on {self.port} did not start: {self.tail()}")
            time.sleep(0.02)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-800:]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``condition`` (a blocking look at Redis) until it holds; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout}s")
        time.sleep(0.05)


class SentinelGroup:
    """A primary, a replica and three Sentinels that fail over after 1 s without the primary."""

    def __init__(self, directory: Path) -> None:
        binary = redis_binary()
        self.directory = directory
        base = ["--bind", HOST, "--save", "", "--appendonly", "no", "--loglevel", "warning"]
        base += ["--dir", str(directory)]  # a replica's full sync writes an RDB file there
        self.primary_port, self.replica_port = free_port(), free_port()
        self.primary = Process(
            binary, self.primary_port, ["--port", str(self.primary_port), *base], directory / "p"
        )
        self.replica = Process(
            binary,
            self.replica_port,
            ["--port", str(self.replica_port), *base, "--replicaof", HOST, str(self.primary_port)],
            directory / "r",
        )
        self.sentinels: list[Process] = []
        self.processes = [self.primary, self.replica]
        try:
            self._start(binary)
        except BaseException:
            self.close()
            raise

    def _start(self, binary: str) -> None:
        for process in self.processes:
            process.wait_up()
        for i in range(3):
            port = free_port()
            conf = self.directory / f"sentinel{i}.conf"
            conf.write_text(
                f"port {port}\nbind {HOST}\n"
                f"sentinel monitor {SERVICE} {HOST} {self.primary_port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
            )
            self.sentinels.append(
                Process(binary, port, [str(conf), "--sentinel"], self.directory / f"s{i}")
            )
        self.processes += self.sentinels
        for process in self.sentinels:
            process.wait_up()
        self._wait_ready()

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(f"{HOST}:{s.port}" for s in self.sentinels)

    def settings(self) -> dict[str, object]:
        """A socketsvc node's settings for this group."""
        return {
            "manager": "redis",
            "redis_url": "redis://127.0.0.1:1/0",  # host ignored: Sentinel names the primary
            "redis_sentinels": self.addresses,
            "redis_sentinel_service": SERVICE,
        }

    def _wait_ready(self) -> None:
        """Replication up, and every Sentinel knows the replica and the two other Sentinels:
        before that a failover cannot be agreed on."""
        replica = redis.Redis(host=HOST, port=self.replica_port)
        try:
            until(
                lambda: replica.info("replication").get("master_link_status") == "up",
                "the replica did not sync",
            )
        finally:
            replica.close()
        for process in self.sentinels:
            sentinel = redis.Redis(host=HOST, port=process.port, decode_responses=True)
            try:
                until(
                    lambda s=sentinel: (
                        len(s.sentinel_sentinels(SERVICE)) == 2  # type: ignore[misc]
                        and len(s.sentinel_slaves(SERVICE)) == 1
                    ),
                    f"Sentinel {process.port} did not find its peers and the replica",
                )
            finally:
                sentinel.close()

    def primary_is(self, port: int) -> bool:
        sentinel = redis.Redis(host=HOST, port=self.sentinels[0].port, decode_responses=True)
        try:
            return int(sentinel.sentinel_get_master_addr_by_name(SERVICE)[1]) == port
        finally:
            sentinel.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.log.name}\n{p.tail()}" for p in self.processes)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@pytest.fixture
def sentinel_group() -> Iterator[SentinelGroup]:
    with tempfile.TemporaryDirectory(prefix="socketsvc-sentinel-") as directory:
        group = SentinelGroup(Path(directory))
        try:
            yield group
        finally:
            group.close()


class ClusterGroup:
    """A Redis Cluster of three primaries (no replicas) made by ``redis-cli --cluster create``."""

    def __init__(self, directory: Path, size: int = 3) -> None:
        binary = redis_binary()
        cli = require_executable("redis-cli", hint="apt-get install -y redis-tools")
        self.ports = [free_port() for _ in range(size)]
        self.processes: list[Process] = []
        try:
            for port in self.ports:
                argv = ["--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
                argv += [
                    "--cluster-enabled",
                    "yes",
                    "--dir",
                    str(directory),
                    "--loglevel",
                    "warning",
                ]
                argv += ["--cluster-config-file", f"nodes-{port}.conf"]
                argv += ["--cluster-port", str(free_port())]  # not port + 10000: may be > 65535
                self.processes.append(Process(binary, port, argv, directory / f"c{port}"))
            for process in self.processes:
                process.wait_up()
            subprocess.run(
                [cli, "--cluster", "create", *(f"{HOST}:{p}" for p in self.ports), *CREATE],
                check=True,
                capture_output=True,
                timeout=30,
            )
            client = redis.RedisCluster(host=HOST, port=self.ports[0])
            try:
                until(lambda: client.cluster_info()["cluster_state"] == "ok", "cluster not ok")
            finally:
                client.close()
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.ports[0]}/0"

    def close(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[ClusterGroup]:
    with tempfile.TemporaryDirectory(prefix="socketsvc-cluster-") as directory:
        group = ClusterGroup(Path(directory))
        try:
            yield group
        finally:
            group.close()
