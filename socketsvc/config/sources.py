"""Where settings come from, merged in one place (:func:`load`): defaults < TOML file <
``SOCKETSVC_*`` environment < command-line flags. A value of the wrong type, an unknown key in
the file or a file that cannot be read raises :class:`ConfigError` naming it.
"""

from __future__ import annotations

import logging
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from socketsvc.errors import ConfigError
from socketsvc.suggest import did_you_mean

from .settings import FIELDS, Settings

log = logging.getLogger("socketsvc.config")  # the package's name: log filters may name it

ENV_PREFIX = "SOCKETSVC_"


def is_table(name: str) -> bool:
    """Whether a setting is a table (``[namespaces]``), which only the TOML file can set."""
    kind = field_type(name)
    return kind is Mapping or typing.get_origin(kind) in (Mapping, dict)


def field_type(name: str) -> Any:
    """The runtime type of a setting, with ``Literal`` reduced to ``str``."""
    hint = typing.get_type_hints(Settings)[name]
    if typing.get_origin(hint) is Literal:
        return str
    if hint == bool | None:  # unset has a meaning of its own (chat)
        return bool
    return hint


def cast(name: str, raw: Any, source: str) -> Any:
    """Turn a raw value from a file, the environment or a flag into the setting's type."""
    kind = field_type(name)
    origin = typing.get_origin(kind)
    auto = FIELDS[name].metadata.get("auto")
    if auto is not None and isinstance(raw, str) and raw.strip().lower() == "auto":
        return auto()
    try:
        if kind is bool:
            return _cast_bool(raw)
        if kind in (int, float):
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, str):
                return kind(raw.strip())
            if kind is int and isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return kind(raw)
        if kind is str:
            if not isinstance(raw, str):
                raise ValueError
            return raw
        if origin is tuple:
            items = raw.split(",") if isinstance(raw, str) else raw
            if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
                raise ValueError
            return tuple(i.strip() for i in items if i.strip())
        if origin in (Mapping, dict) or kind is Mapping:
            if not isinstance(raw, Mapping):
                raise ValueError
            return dict(raw)
    except (TypeError, ValueError):
        pass
    else:
        raise AssertionError(f"no cast for setting {name}")  # pragma: no cover
    expected = _type_name(kind) + (" or 'auto'" if auto is not None else "")
    raise ConfigError(f"{name}: {raw!r} from {source} is not a valid {expected}")


def _cast_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError


def _type_name(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin is tuple:
        return "list of strings"
    if origin in (Mapping, dict) or kind is Mapping:
        return "table"
    if isinstance(kind, type | types.GenericAlias):
        return {"int": "integer", "float": "number", "bool": "boolean (true/false)"}.get(
            kind.__name__, kind.__name__
        )
    return str(kind)  # pragma: no cover


def read_file(path: str | Path) -> dict[str, Any]:
    """Settings from a TOML file; unknown keys are errors so typos never pass silently."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in FIELDS:
            tables = [name for name in FIELDS if is_table(name)]
            if isinstance(raw, dict):
                hint = did_you_mean(key, tables, "[{}]")
                raise ConfigError(f"[{key}]: unknown table in {path}{hint}")
            hint = did_you_mean(key, [n for n in FIELDS if n not in tables])
            raise ConfigError(f"{key}: unknown setting in {path}{hint}")
        values[key] = cast(key, raw, str(path))
    return values


# Variables of socketsvc's own scripts (scripts/test, scripts/serve), not settings.
SCRIPT_VARIABLES = frozenset({"pythons", "venv"})


def read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings from ``SOCKETSVC_<NAME>`` variables; unknown ones only warn (shared envs)."""
    values: dict[str, Any] = {}
    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX) or var == ENV_PREFIX + "CONFIG":
            continue
        key = var[len(ENV_PREFIX) :].lower()
        if key not in FIELDS or is_table(key):
            if not key.startswith("test_") and key not in SCRIPT_VARIABLES:
                names = [ENV_PREFIX + n.upper() for n in FIELDS if not is_table(n)]
                hint = did_you_mean(var, names)
                log.warning("ignoring unknown environment variable %s%s", var, hint)
            continue
        values[key] = cast(key, raw, f"environment variable {var}")
    return values


def load(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge every source in precedence order into one validated :class:`Settings`.

    ``config_file`` falls back to ``$SOCKETSVC_CONFIG``; ``overrides`` are the values given as
    command-line flags (already typed). Any bad value raises :class:`ConfigError` naming it.
    """
    environ = os.environ if environ is None else environ
    config_file = config_file or environ.get(ENV_PREFIX + "CONFIG") or None
    values: dict[str, Any] = {}
    here = Path(config_file).resolve().parent if config_file else None
    if config_file and here is not None:
        values.update(read_file(config_file))
        # In the file, a relative handler_path is relative to the file.
        values["handler_path"] = tuple(str(here / p) for p in values.get("handler_path", ()))
    values.update(read_env(environ))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    # From the environment or a flag, relative to the working directory.
    values["handler_path"] = tuple(os.path.abspath(p) for p in values.get("handler_path", ()))
    if here is not None:
        # Handler modules beside the config file are found however socketsvc was started.
        values["handler_path"] = (*values["handler_path"], str(here))
    return Settings(**values)
