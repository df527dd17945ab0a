"""Names in the published contract: the prefix of a namespace's interfaces, and the name of
each payload type, which is its Python class's name unless two types would share one."""

from __future__ import annotations

import re
from collections import defaultdict

from .shapes import Catalog, TypeKey

# Names the generated TypeScript defines or uses itself, and TypeScript's own type names.
RESERVED = frozenset(
    {"ErrorAck", "Binary", "ArrayBuffer", "ArrayBufferView"}
    | {"string", "number", "boolean", "object", "unknown", "never", "any", "null"}
    | {"undefined", "void", "symbol", "bigint"}
)


def type_prefix(path: str) -> str:
    """``/auction`` -> ``Auction``, ``/`` -> ``Root``, ``/board/*`` -> ``Board``,
    ``/my-app/v2`` -> ``MyAppV2``."""
    name = pascal(path) or "Root"
    return f"Ns{name}" if name[0].isdigit() else name


def pascal(text: str) -> str:
    return "".join(w[0].upper() + w[1:] for w in re.split(r"[\W_]+", text) if w)


def type_names(catalog: Catalog, taken: frozenset[str] = frozenset()) -> dict[TypeKey, str]:
    """A name for every type in ``catalog``: the class's name; ``<Name>Output`` for what the
    server sends of a dataclass that clients also send, when the two differ (every field
    present); qualified by module (``MyappOrdersSubscribe``) when two classes share a name
    or the name is ``taken`` or reserved. A type read both ways alike is one name."""
    wanted: dict[TypeKey, str] = {}
    for key in catalog.types:
        cls, variant = key
        twin = (cls, "in")
        if variant == "out" and twin in catalog.types:
            if catalog.get(twin) == catalog.get(key):
                continue  # the same both ways: named once, below
            wanted[key] = f"{cls.__name__}Output"
        else:
            wanted[key] = cls.__name__
    classes: dict[str, set[type]] = defaultdict(set)
    for (cls, _), name in wanted.items():
        classes[name].add(cls)
    names: dict[TypeKey, str] = {}
    used: set[str] = set()
    for key, name in sorted(wanted.items(), key=lambda item: _order(item[0])):
        cls, variant = key
        if len(classes[name]) > 1 or name in RESERVED or name in taken:
            name = pascal(f"{cls.__module__}.{cls.__qualname__}") + name[len(cls.__name__) :]
        unique, n = name, 2
        while unique in used or unique in RESERVED or unique in taken:
            unique, n = f"{name}{n}", n + 1
        used.add(unique)
        names[key] = unique
    for key in catalog.types:
        if key not in names:  # an "out" read the same as its "in"
            names[key] = names[(key[0], "in")]
    return names


def _order(key: TypeKey) -> tuple[str, str, str]:
    cls, variant = key
    return (cls.__module__, cls.__qualname__, variant)
