"""The connection table on its own: one record per namespace connection, every index kept by
the same calls, and a record that only its own connection can drop. (The flows that use it
run against real clients in test_connection_tables.py and the recovery suites.)"""

from __future__ import annotations

import asyncio
import time

from socketsvc.security.auth import Identity
from socketsvc.security.lifetimes import TokenLifetimes
from socketsvc.sio.records import ConnectionTable
from socketsvc.sio.recovery import Session


def identity(sub: str, expires_in: float = 3600) -> Identity:
    return Identity({"sub": sub, "exp": int(time.time() + expires_in)})


def test_a_record_is_dropped_only_by_its_own_connection() -> None:
    table = ConnectionTable()
    record = table.open("s1", "/chat", "e1")
    assert table.get("s1") is record and table.of("s1", "e1") is record
    assert table.of("s1", "e2") is None
    assert table.drop("s1", "e2") is None and table.get("s1") is record  # another's drop
    assert table.drop("s1", "e1") is record
    assert table.get("s1") is None and table.drop("s1", "e1") is None
    assert table.state_size() == 0 and len(table) == 0


def test_every_index_goes_with_its_record() -> None:
    table = ConnectionTable()
    lifetimes = TokenLifetimes(notice=0, leeway=0)
    record = table.open("s1", "/chat", "e1")
    table.authenticated(record, lifetimes.add("s1", "/chat", identity("u-1")))
    other = table.open("s2", "/test", "e2")
    table.authenticated(other, lifetimes.add("s2", "/test", identity("u-1")))
    table.hold(record)
    assert table.held == {"s1": record.held}
    assert sorted(table.of_subject("u-1")) == [("s1", "/chat"), ("s2", "/test")]
    assert record.lifetime is not None and table.identity("s1") is record.lifetime.identity
    assert table.identity("s3") is None
    table.drop("s1", "e1")
    assert table.held == {} and table.of_subject("u-1") == [("s2", "/test")]
    table.drop("s2", "e2")
    assert table.of_subject("u-1") == [] and table.state_size() == 0


def test_the_newest_claim_replaces_an_older_record_of_its_sid() -> None:
    """A reconnect that claimed a session takes its sid's record: the older connection's
    indexes go with it, and its late drop leaves the new record alone."""
    table = ConnectionTable()
    lifetimes = TokenLifetimes(notice=0, leeway=0)
    old = table.open("s1", "/chat", "e-old")
    table.authenticated(old, lifetimes.add("s1", "/chat", identity("u-1")))
    table.hold(old)
    new = table.open("s1", "/chat", "e-new")
    assert table.get("s1") is new and table.held == {} and table.of_subject("u-1") == []
    assert table.drop("s1", "e-old") is None and table.get("s1") is new


def test_released_packets_come_back_once_in_order() -> None:
    table = ConnectionTable()
    record = table.open("s1", "/chat", "e1")
    table.hold(record)
    assert record.held is not None
    record.held.frames.extend([["a"], ["b"]])
    held = table.release(record)
    assert held is not None and held.frames == [["a"], ["b"]]
    assert record.held is None and table.held == {} and table.release(record) is None


async def test_a_reconnect_waiting_for_the_old_connection_wakes_when_its_record_goes() -> None:
    table = ConnectionTable()
    record = table.open("s1", "/recovering", "e1")
    record.session = Session("pid", "s1", "/recovering", holder="e1")
    record.left = asyncio.Event()
    waiting = asyncio.create_task(record.left.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    table.drop("s1", "e1")
    await asyncio.wait_for(waiting, 1)


async def test_an_ended_lifetime_fires_nothing_and_cannot_be_renewed() -> None:
    """A timer whose connection is gone (its record dropped, its lifetime ended) never
    closes anyone, even if it was already due."""
    fired: list[str] = []

    class Expiry:
        def token_expiring(self, sid: str, namespace: str, expires: int) -> None:
            fired.append("expiring")

        def token_expired(self, sid: str, namespace: str) -> None:
            fired.append(sid)

    lifetimes = TokenLifetimes(notice=0, leeway=0)
    lifetimes.bind(Expiry())
    due = lifetimes.add("s1", "/chat", identity("u-1", expires_in=0))
    lifetimes.start(due)
    assert due.timer is not None
    await asyncio.sleep(0.05)
    assert fired == ["s1"]  # a live one is closed at exp
    ended = lifetimes.add("s2", "/chat", identity("u-1", expires_in=0.05))
    lifetimes.start(ended)
    lifetimes.end(ended)
    assert ended.timer is None
    lifetimes.start(ended)  # a late start (the client heard CONNECT after it left) arms nothing
    assert ended.timer is None
    assert not lifetimes.renew(ended, identity("u-1"))
    await asyncio.sleep(0.1)
    assert fired == ["s1"]
