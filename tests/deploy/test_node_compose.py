"""deploy/node-cluster: the compose example of a mixed cluster (one Node.js node on
@socket.io/redis-adapter, one socketsvc node speaking its format, nginx in front).

No Docker engine runs here or in CI, so it is checked as docker-compose.yml is
(test_compose.py): its structure with PyYAML, and ``docker-compose config -q``; the Node
server's syntax with ``node --check``, and its pinned packages against the versions the
mixed-cluster tests run (tests/scaleout/test_node_cluster.py, clients/js devDependencies).
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import yaml

from tests.conftest import ROOT
from tests.tools import require_executable

HERE = ROOT / "deploy" / "node-cluster"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((HERE / "docker-compose.yml").read_text()))


def test_one_node_node_and_one_socketsvc_node_share_one_redis_behind_nginx() -> None:
    services = compose()["services"]
    assert "healthcheck" in services["redis"]
    node, svc = services["node-1"]["environment"], services["socketsvc-1"]["environment"]
    assert node["REDIS_URL"] == svc["SOCKETSVC_REDIS_URL"] == "redis://redis:6379/0"
    assert svc["SOCKETSVC_MANAGER"] == "redis"
    assert svc["SOCKETSVC_REDIS_PROTOCOL"] == "socket.io"
    assert svc["SOCKETSVC_REDIS_PREFIX"] == node["SOCKETIO_KEY"]  # Node's key is the prefix
    assert svc["SOCKETSVC_HOST"] == "0.0.0.0"
    for name in ("node-1", "socketsvc-1"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["socketsvc-1"]["build"] == "../.."
    nginx = services["nginx"]
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    site = (HERE / "nginx.conf").read_text()
    upstreams = re.findall(r"^\s*server\s+([\w.-]+):(\d+);", site, re.M)
    assert sorted(upstreams) == [("node-1", node["PORT"]), ("socketsvc-1", svc["SOCKETSVC_PORT"])]
    for directive in ("ip_hash;", "proxy_http_version 1.1;", "proxy_set_header Upgrade"):
        assert directive in site


def test_the_node_node_runs_the_versions_the_tests_run() -> None:
    pinned = json.loads((HERE / "node" / "package.json").read_text())["dependencies"]
    tested = json.loads((ROOT / "clients" / "js" / "package.json").read_text())["devDependencies"]
    for package, version in pinned.items():
        assert tested[package] == version, package
    dockerfile = (HERE / "node" / "Dockerfile").read_text()
    assert 'CMD ["node", "server.mjs"]' in dockerfile and "USER node" in dockerfile


def test_the_node_server_parses() -> None:
    node = require_executable("node")
    proc = subprocess.run(
        [node, "--check", str(HERE / "node" / "server.mjs")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_docker_compose_config() -> None:
    binary = require_executable("docker-compose")
    proc = subprocess.run(
        [binary, "-f", str(HERE / "docker-compose.yml"), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
