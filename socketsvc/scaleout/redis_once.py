"""Emits made at most once per key (sio/once.py) across the nodes of one Redis, where the emit
is not appended to the recovery stream (which records the key in the same script): a SET NX
before the emit. The bus is at-most-once anyway; while Redis is unreachable every send is a
first, so a retry is sent again rather than lost."""

from __future__ import annotations

from typing import Any

from socketsvc.scaleout import bus
from socketsvc.scaleout.redis_health import RedisHealth
from socketsvc.sio.once import Once


def sent_key(prefix: str, namespace: str, key: str) -> str:
    """Where the answer to an emit made once per ``key`` is kept."""
    return f"{prefix}:sent:{namespace}:{key}"


async def first_send(redis: Any, link: RedisHealth, name: str, once: Once) -> bool:
    """Whether ``once`` is sent for the first time (recorded now under key ``name``); if not,
    :attr:`~socketsvc.sio.once.Once.earlier` is set to the first send's answer."""
    pipe = redis.pipeline(transaction=True)
    pipe.set(name, bus.pack(once.answer), nx=True, px=max(1, int(once.seconds * 1000)))
    pipe.get(name)
    results = await link.attempt(pipe.execute(), None)
    if results is None or results[0] or results[1] is None:
        return True
    once.earlier = bus.unpack(results[1])
    return False
