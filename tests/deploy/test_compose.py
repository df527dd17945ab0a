"""The deployment: docker-compose.yml, Dockerfile and deploy/nginx.conf.

No Docker engine runs in CI, so the compose file is checked twice: structurally with PyYAML
and, when Debian's ``docker-compose`` is installed, with ``docker-compose config -q``. The
same topology then runs natively: ``redis-server``, two ``python -m socketsvc serve``
processes and ``nginx`` with the repository's site config (only the upstream addresses and
the listen port replaced), and stock ``socket.io-client`` chats across the two nodes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from socketsvc.cli import main as cli_main
from socketsvc.config import load as load_config
from socketsvc.config.derived import serves_chat
from tests.conftest import ROOT
from tests.redis_support import HOST, free_port
from tests.tools import require_executable

NGINX_SITE = ROOT / "deploy" / "nginx.conf"
PROMETHEUS = ROOT / "deploy" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_compose_structure() -> None:
    services = compose()["services"]
    redis = services["redis"]
    assert "healthcheck" in redis
    replicas = {
        n: s for n, s in services.items() if s.get("environment", {}).get("SOCKETSVC_MANAGER")
    }
    assert len(replicas) >= 2
    for service in replicas.values():
        env = service["environment"]
        # the app: handler modules and app.toml mounted at /app (deploy/app: the defaults)
        assert "${SOCKETSVC_APP:-./deploy/app}:/app:ro" in service["volumes"]
        assert env["SOCKETSVC_CONFIG"] == "/app/app.toml"
        assert env["SOCKETSVC_MANAGER"] == "redis"
        assert env["SOCKETSVC_REDIS_URL"] == "redis://redis:6379/0"
        assert env["SOCKETSVC_HOST"] == "0.0.0.0"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    nginx = services["nginx"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    assert "8080:8080" in nginx["ports"]
    site = NGINX_SITE.read_text()
    upstreams = re.findall(r"^\s*server\s+([\w.-]+):8000\b", site, re.M)
    assert sorted(upstreams) == sorted(replicas)
    for directive in ("ip_hash;", "proxy_http_version 1.1;", "proxy_set_header Upgrade"):
        assert directive in site
    assert re.search(r"location = /metrics \{\s*return 404;", site)


def test_prometheus_profile_scrapes_every_replica() -> None:
    services = compose()["services"]
    replicas = sorted(
        n for n, s in services.items() if "SOCKETSVC_MANAGER" in s.get("environment", {})
    )
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]  # optional: only with --profile monitoring
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    (job,) = yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert sorted(targets) == [f"{name}:8000" for name in replicas]


def test_sentinel_profile_is_a_primary_a_replica_and_three_sentinels() -> None:
    services = compose()["services"]
    profile = sorted(n for n, s in services.items() if s.get("profiles") == ["sentinel"])
    assert profile == ["redis-primary", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"]
    replica = services["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 :][:2] == ["redis-primary", "6379"]
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        script = " ".join(services[name]["command"])
        assert "sentinel monitor socketsvc redis-primary 6379 2" in script
        assert "--sentinel" in script
    env = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy/sentinel.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert env["COMPOSE_PROFILES"] == "sentinel"
    assert env["SOCKETSVC_REDIS_SENTINELS"] == ",".join(f"{n}:26379" for n in profile[2:])
    settings = load_config(environ={k: v for k, v in env.items() if k.startswith("SOCKETSVC_")})
    assert settings.redis_sentinel_service == "socketsvc"  # the name the Sentinels monitor
    for node in ("socketsvc-1", "socketsvc-2"):
        node_env = services[node]["environment"]
        assert node_env["SOCKETSVC_REDIS_SENTINELS"] == "${SOCKETSVC_REDIS_SENTINELS:-}"


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.13-slim$", text, re.M)
    user = re.search(r"^USER (\S+)$", text, re.M)
    assert user and user.group(1) not in ("root", "0")
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert 'CMD ["socketsvc", "serve"]' in text
    assert "SOCKETSVC_HOST=0.0.0.0" in text
    # a base for apps: socketsvc installed (its sources removed), /app empty for the app
    assert re.search(r"^WORKDIR /app$", text, re.M)
    assert "pip install /src" in text and "rm -rf /src" in text
    for source in docker_copies(text):  # the build context has what the image copies
        assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {"socketsvc", "README.md", "pyproject.toml"} & set(ignored)


def docker_copies(dockerfile: str) -> list[str]:
    """The sources of a Dockerfile's COPY lines (without flags and destination)."""
    sources = []
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.M):
        words = [w for w in line.split() if not w.startswith("--")]
        sources += words[:-1]
    return sources


def test_the_default_app_folder_is_the_embedded_defaults() -> None:
    settings = load_config(ROOT / "deploy" / "app" / "app.toml", environ={})
    assert settings == load_config(environ={}).__class__(handler_path=settings.handler_path)
    assert serves_chat(settings)


def test_an_app_image_builds_on_socketsvcs(tmp_path: Path) -> None:
    """``socketsvc new``'s Dockerfile and compose.yaml: FROM socketsvc's image, the app's
    folder copied to /app (its virtual environment left out), read as /app/app.toml; two
    nodes on Redis. (The app runs from its folder in tests/app/test_installed_app.py.)"""
    app = tmp_path / "auction"
    assert cli_main(["new", str(app)]) == 0
    dockerfile = (app / "Dockerfile").read_text()
    assert re.search(r"^ARG SOCKETSVC_IMAGE=socketsvc$", dockerfile, re.M)
    assert re.search(r"^FROM \$\{SOCKETSVC_IMAGE\}$", dockerfile, re.M)
    assert "COPY --chown=socketsvc . /app/" in dockerfile
    assert "ENV SOCKETSVC_CONFIG=/app/app.toml" in dockerfile
    assert ".venv" in (app / ".dockerignore").read_text().split()
    services = yaml.safe_load((app / "compose.yaml").read_text())["services"]
    nodes = [s for s in services.values() if s.get("build") == "."]
    assert len(nodes) == 2
    for node in nodes:
        assert node["environment"]["SOCKETSVC_MANAGER"] == "redis"
        assert node["environment"]["SOCKETSVC_REDIS_URL"] == "redis://redis:6379/0"
        assert node["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in services["redis"]
    binary = require_executable("docker-compose")
    proc = subprocess.run(
        [binary, "-f", "compose.yaml", "config", "-q"],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_docker_compose_config() -> None:
    binary = require_executable("docker-compose")
    proc = subprocess.run(
        [binary, "-f", "docker-compose.yml", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


# -- the same topology, natively ------------------------------------------------------------


def http_json(url: str) -> Any:
    """The JSON body of a GET; an error status raises ``HTTPError``, its response closed."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        exc.close()  # else its socket is closed only by the garbage collector, with a warning
        raise


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if http_json(url).get("status") in ("ok", "ready"):
                return
        except OSError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"process for {url} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            pytest.fail(f"{url} not ready within {timeout}s")
        time.sleep(0.05)


def nginx_config(tmp: Path, ports: list[int], listen: int) -> Path:
    """The repository's site config with local upstreams, inside a minimal main config."""
    site = NGINX_SITE.read_text()
    names = re.findall(r"^\s*server\s+([\w.-]+:8000)\b", site, re.M)
    assert len(names) == len(ports)
    for name, port in zip(names, ports, strict=True):
        site = site.replace(f"server {name}", f"server {HOST}:{port}", 1)
    site = re.sub(r"^(\s*)listen\s+8080;", rf"\1listen {HOST}:{listen};", site, flags=re.M)
    (tmp / "site.conf").write_text(site)
    temp_paths = "\n".join(
        f"  {kind}_temp_path {tmp}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
{temp_paths}
  include {tmp}/site.conf;
}}
"""
    (tmp / "nginx.conf").write_text(main)
    return tmp / "nginx.conf"


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> tuple[Samples, set[str]]:
    """One node's exposition parsed by prometheus-client: (name, labels) -> value, and every
    series name it declares (a counter's ``_total``, a histogram's ``_bucket``), sampled yet
    or not."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    samples: Samples = {}
    declared: set[str] = set()
    for family in text_string_to_metric_families(text):
        suffix = {"counter": "_total", "histogram": "_bucket"}.get(family.type, "")
        declared.add(family.name + suffix)
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
            declared.add(s.name)
    return samples, declared


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def topology(redis_url: str, redis_prefix: str, node: str) -> Iterator[dict[str, Any]]:
    nginx = require_executable("nginx", also=("/usr/sbin/nginx",))
    procs: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="socketsvc-nginx-"))
    try:
        ports = [free_port(), free_port()]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SOCKETSVC_LOG_LEVEL": "warning"}
        env["SOCKETSVC_CONFIG"] = str(ROOT / "deploy" / "app" / "app.toml")  # as mounted
        env |= {"SOCKETSVC_MANAGER": "redis", "SOCKETSVC_REDIS_URL": redis_url}
        env |= {"SOCKETSVC_REDIS_PREFIX": redis_prefix}
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "socketsvc", "serve", "--port", str(port)],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                )
            )
        for port, proc in zip(ports, procs, strict=True):
            wait_ready(f"http://{HOST}:{port}/readyz", proc)
        listen = free_port()
        conf = nginx_config(tmp, ports, listen)
        procs.append(
            subprocess.Popen([nginx, "-p", str(tmp), "-c", str(conf)], stdin=subprocess.DEVNULL)
        )
        wait_ready(f"http://{HOST}:{listen}/healthz", procs[-1])
        yield {"url": f"http://{HOST}:{listen}", "nodes": [f"http://{HOST}:{p}" for p in ports]}
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def test_stock_client_chats_across_nodes_through_nginx(topology: dict[str, Any], node: str) -> None:
    with urllib.request.urlopen(topology["url"] + "/", timeout=2) as response:
        page = response.read()
    assert b"<html" in page.lower()
    script = ROOT / "tests" / "js" / "cross_node_chat.mjs"
    proc = subprocess.Popen(
        [
            node,
            str(script),
            "--url",
            topology["url"],
            "--from",
            "127.0.0.1,127.1.0.1",
            "--step",
            "connect",
            "--deadline",
            "25",
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        first = json.loads(proc.stdout.readline() or "{}")
        assert first.get("connected"), first
        counts = [http_json(n + "/healthz")["clients"] for n in topology["nodes"]]
        assert counts == [1, 1], f"nginx did not spread the two clients over both nodes: {counts}"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"], result
    assert result["transports"] == ["websocket", "websocket"]  # upgraded through nginx
    assert result["members"] == ["alice", "bob"]
    assert result["received"] == ["across nodes", "and back"]
    # each node's /metrics, as Prometheus scrapes them (deploy/prometheus.yml)
    names = set()
    for url in topology["nodes"]:
        samples, declared = scrape(url + "/metrics")
        names |= declared
        assert samples[("socketsvc_ready", ())] == 1
        assert samples[("socketsvc_events_received_total", (("namespace", "/chat"),))] >= 2
        assert samples[("socketsvc_bus_published_total", ())] >= 1
        assert samples[("socketsvc_bus_received_total", ())] >= 1  # the other node's emits
        assert samples[("socketsvc_namespace_connects_total", (("namespace", "/chat"),))] == 1
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(topology["url"] + "/metrics", timeout=2)
    refused.value.close()
    assert refused.value.code == 404  # not through the public entry point
    dashboard = DASHBOARD.read_text()
    used = set(re.findall(r"\b((?:socketsvc|process)_[a-z_]+)", dashboard))
    # every series the dashboard queries exists (histograms as their _bucket series)
    assert used and used <= names, sorted(used - names)


def test_browsers_on_the_proxy_origin_pass_and_foreign_origins_are_refused(
    topology: dict[str, Any],
) -> None:
    handshake = topology["url"] + "/socket.io/?EIO=4&transport=polling"

    def status(origin: str) -> int:
        request = urllib.request.Request(handshake, headers={"Origin": origin})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)

    assert status(topology["url"]) == 200  # the page's own origin, port included
    assert status("http://evil.example") == 403
