"""Settings: precedence, typed casts, and errors that name the setting."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from socketsvc import config
from socketsvc.app.factory import create_app
from socketsvc.cli import build_parser, settings_from_args
from socketsvc.config.derived import serves_chat
from socketsvc.errors import ConfigError
from socketsvc.scaleout.redis_health import safe_url
from socketsvc.scaleout.redis_topology import connection_url


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "socketsvc.toml"
    path.write_text(text)
    return path


def test_defaults_are_a_single_in_memory_node() -> None:
    settings = config.load(environ={})
    assert (settings.host, settings.port, settings.manager) == ("127.0.0.1", 8000, "memory")
    assert settings.serializer == "auto"
    assert (settings.ping_interval, settings.ping_timeout, settings.max_payload) == (25, 20, 10**6)


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    path = write(tmp_path, 'port = 9001\nlog_level = "warning"\nping_interval = 10\n')
    env = {"SOCKETSVC_PORT": "9002", "SOCKETSVC_PING_INTERVAL": "12.5"}
    settings = config.load(path, env, {"port": 9003})
    assert settings.port == 9003  # flag beats env beats file
    assert settings.ping_interval == 12.5  # env beats file
    assert settings.log_level == "warning"  # file beats default
    assert settings.ping_timeout == 20  # default


def test_cli_flags_and_config_from_env(tmp_path: Path) -> None:
    path = write(tmp_path, 'serializer = "msgpack"\ntransports = ["websocket"]\n')
    args = build_parser().parse_args(
        ["serve", "--port", "7001", "--cors-origins", "https://a.example,https://b.example"]
    )
    settings = settings_from_args(args)  # no --config: nothing from the file
    assert settings.port == 7001
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert config.load(environ={"SOCKETSVC_CONFIG": str(path)}).transports == ("websocket",)


def test_redis_prefix_defaults_to_the_protocols_key() -> None:
    assert config.load(environ={}).redis_prefix == "socketsvc"
    for protocol in ("socket.io", "socket.io-streams"):
        env = {"SOCKETSVC_REDIS_PROTOCOL": protocol}
        assert config.load(environ=env).redis_prefix == "socket.io"  # Node's default key
        env["SOCKETSVC_REDIS_PREFIX"] = "chat-io"
        assert config.load(environ=env).redis_prefix == "chat-io"


SENTINEL = {"SOCKETSVC_REDIS_SENTINELS": "s1:26379", "SOCKETSVC_REDIS_SENTINEL_SERVICE": "m"}


def test_sentinel_settings_make_the_url_every_redis_client_connects_with() -> None:
    settings = config.load(
        environ={
            "SOCKETSVC_MANAGER": "redis",
            "SOCKETSVC_REDIS_URL": "redis://app:pw@ignored:6379/3",
            "SOCKETSVC_REDIS_SENTINELS": "10.0.0.1:26379, [::1]:26380",
            "SOCKETSVC_REDIS_SENTINEL_SERVICE": "main",
            "SOCKETSVC_REDIS_SENTINEL_PASSWORD": "s&cret",
        }
    )
    url = connection_url(settings)
    assert url == (
        "redis+sentinel://app:pw@10.0.0.1:26379,[::1]:26380/main/3"
        "?failover_timeout=30&sentinel_password=s%26cret"
    )
    assert safe_url(url) == "redis+sentinel://app:***@10.0.0.1:26379,[::1]:26380/main/3"
    assert "s&cret" not in repr(settings)
    cluster = config.load(
        environ={"SOCKETSVC_REDIS_CLUSTER": "true", "SOCKETSVC_REDIS_URL": "rediss://:pw@h:7000"}
    )
    assert connection_url(cluster) == "rediss+cluster://:pw@h:7000"
    assert cluster.redis_prefix == "{socketsvc}"  # one hash tag: multi-key commands in one slot
    plain = config.load(environ={"SOCKETSVC_REDIS_URL": "redis://h:1/2"})
    assert connection_url(plain) == "redis://h:1/2"  # no Sentinel: the URL as given


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SOCKETSVC_PORT": "eighty"}, "port: 'eighty' from environment variable SOCKETSVC_PORT"),
        ({"SOCKETSVC_PORT": "70000"}, "port: 70000 is not between 0 and 65535"),
        ({"SOCKETSVC_SERIALIZER": "xml"}, "serializer: 'xml' is not one of auto, json, msgpack"),
        ({"SOCKETSVC_MANAGER": "zookeeper"}, "manager: 'zookeeper' is not one of memory"),
        ({"SOCKETSVC_PING_TIMEOUT": "0"}, "ping_timeout: must be a positive number"),
        ({"SOCKETSVC_CHAT_PAGE": "maybe"}, "chat_page: 'maybe'"),
        ({"SOCKETSVC_TRANSPORTS": "polling,carrier-pigeon"}, "transports:"),
        ({"SOCKETSVC_MAX_PAYLOAD": "10"}, "max_payload: 10 is below the minimum"),
        ({"SOCKETSVC_REDIS_PROTOCOL": "socketio"}, "redis_protocol: 'socketio' is not one of"),
        ({"SOCKETSVC_REDIS_SENTINELS": "s1:26379,s2"}, "redis_sentinels: 's2' is not a host:port"),
        ({"SOCKETSVC_REDIS_SENTINELS": "s1:0"}, "redis_sentinels: 's1:0' is not a host:port"),
        ({"SOCKETSVC_REDIS_SENTINELS": "s1:26379"}, "redis_sentinel_service: required with"),
        ({"SOCKETSVC_REDIS_SENTINEL_SERVICE": "m"}, "redis_sentinel_service: set redis_sentinels"),
        (
            {"SOCKETSVC_REDIS_SENTINEL_PASSWORD": "x"},
            "redis_sentinel_password: set redis_sentinels",
        ),
        (
            {**SENTINEL, "SOCKETSVC_REDIS_SENTINEL_SERVICE": "my master"},
            "redis_sentinel_service: 'my master' is not a Sentinel master name",
        ),
        (
            {**SENTINEL, "SOCKETSVC_REDIS_URL": "unix:///run/redis.sock"},
            "redis_url: a unix:// URL cannot name Sentinel's primary",
        ),
        ({**SENTINEL, "SOCKETSVC_REDIS_FAILOVER_TIMEOUT": "0"}, "redis_failover_timeout: must be"),
        ({**SENTINEL, "SOCKETSVC_REDIS_CLUSTER": "true"}, "redis_cluster: a Redis Cluster fails"),
        (
            {"SOCKETSVC_REDIS_CLUSTER": "1", "SOCKETSVC_REDIS_PROTOCOL": "socket.io"},
            "redis_cluster: not with redis_protocol = 'socket.io'",
        ),
        (
            {"SOCKETSVC_REDIS_CLUSTER": "1", "SOCKETSVC_REDIS_URL": "redis://h:7000/2"},
            "redis_url: 'redis://h:7000/2': a Redis Cluster has database 0 only",
        ),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.load(environ=env)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("prot = 8000\n", "prot: unknown setting"),
        ("port = 'x'\n", "port: 'x' from"),
        ("port = 80.5\n", "port: 80.5"),
        ("[namespaces]\n'orders' = 'a.b:C'\n", "'orders' is not a namespace path"),
        ("[namespaces]\n'/orders' = 'not a path'\n", "namespaces./orders: 'not a path'"),
        ("port = \n", "is not valid TOML"),
    ],
)
def test_bad_file_entries_name_the_setting(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, text), environ={})
    assert message in str(caught.value)


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.toml", environ={})


def test_unknown_environment_variables_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="socketsvc.config"):
        config.load(environ={"SOCKETSVC_PROT": "1"})
    assert "SOCKETSVC_PROT" in caplog.text


def test_the_variables_of_socketsvcs_own_scripts_do_not_warn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # scripts/test reads SOCKETSVC_PYTHONS and scripts/serve SOCKETSVC_VENV; the servers
    # they start see them too, and must not warn about them on every start.
    scripts = {"SOCKETSVC_PYTHONS": "3.13", "SOCKETSVC_VENV": "/tmp/v", "SOCKETSVC_TEST_X": "1"}
    with caplog.at_level(logging.WARNING, logger="socketsvc.config"):
        config.load(environ=scripts)
    assert caplog.text == ""


@pytest.mark.parametrize(
    "target, message",
    [
        ("no_such_module:Handler", "cannot import module 'no_such_module'"),
        ("tests.sample_handlers:Missing", "module 'tests.sample_handlers' has no 'Missing'"),
        (
            "tests.sample_handlers:EchoNamespce",
            "module 'tests.sample_handlers' has no 'EchoNamespce'; did you mean 'EchoNamespace'?",
        ),
        ("sample_handler:EchoNamespace", "did you mean 'sample_handlers'?"),
        ("tests.sample_handlers:Point", "is not a socketsvc.handlers.BaseNamespace subclass"),
        ("tests.broken_handlers:Broken", "Broken.sneaky: 'connect' cannot be an event name"),
    ],
)
def test_handler_modules_are_checked_at_start_up(target: str, message: str) -> None:
    tests = str(Path(__file__).resolve().parents[1])  # tests/: where sample_handlers.py is
    settings = config.Settings(namespaces={"/x": target}, handler_path=(tests,))
    with pytest.raises(ConfigError) as caught:
        create_app(settings)
    assert message in str(caught.value) and "namespaces./x" in str(caught.value)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            'redis_uri = "redis://x"\n',
            "redis_uri: unknown setting in {path}; did you mean redis_url?",
        ),
        ("chatpage = false\n", "chatpage: unknown setting in {path}; did you mean chat_page?"),
        (
            '[namespace]\n"/a" = "m:C"\n',
            "[namespace]: unknown table in {path}; did you mean [namespaces]?",
        ),
        ('[namespace_auths]\n"/a" = "required"\n', "did you mean [namespace_auth]?"),
        ("frobnicate = 1\n", "frobnicate: unknown setting in {path}"),  # nothing close
        (
            '[namespaces]\n"/a" = "m:C"\nchat = false\n',
            "namespaces: 'chat' is not a namespace path like '/orders' or '/team/*' (`chat` is "
            "a setting: in TOML it belongs above the [namespaces] header)",
        ),
    ],
)
def test_unknown_settings_and_tables_get_a_did_you_mean(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        config.load(path, environ={})
    assert message.format(path=path) in str(caught.value)
    if "did you mean" not in message:
        assert "did you mean" not in str(caught.value)


def test_an_unknown_environment_variable_gets_a_did_you_mean(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="socketsvc.config"):
        config.load(environ={"SOCKETSVC_REDIS_URI": "redis://x"})
    assert "SOCKETSVC_REDIS_URI; did you mean SOCKETSVC_REDIS_URL?" in caplog.text


def test_chat_is_served_on_the_defaults_and_opt_in_beside_an_apps_namespaces(
    tmp_path: Path,
) -> None:
    assert serves_chat(config.load(environ={}))  # the README's first command
    own = '[namespaces]\n"/x" = "tests.sample_handlers:EchoNamespace"\n'
    assert not serves_chat(config.load(write(tmp_path, own), environ={}))
    assert serves_chat(config.load(write(tmp_path, "chat = true\n" + own), environ={}))
    assert not serves_chat(config.load(environ={"SOCKETSVC_CHAT": "false"}))
    args = build_parser().parse_args(["serve", "--no-chat"])
    assert not serves_chat(settings_from_args(args))


def test_handler_path_in_the_file_is_relative_to_it_and_from_env_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "app.toml"
    path.write_text('handler_path = ["lib"]\n')
    monkeypatch.chdir(tmp_path)
    assert config.load(path, environ={}).handler_path == (
        str(tmp_path / "conf" / "lib"),
        str(tmp_path / "conf"),
    )
    env = {"SOCKETSVC_HANDLER_PATH": "mods"}
    assert config.load(path, environ=env).handler_path == (
        str(tmp_path / "mods"),
        str(tmp_path / "conf"),
    )
