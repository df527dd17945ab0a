"""SentOnce, the memory manager's record of emits made once per key (a retried send): what is
remembered, for how long, and what is forgotten first when the table is full. Through a
server, tests/handlers/test_chat.py and tests/scaleout/test_recovery_contract.py cover it."""

from __future__ import annotations

import time

import pytest

from socketsvc.sio import once as once_module
from socketsvc.sio.once import Once, SentOnce


def test_a_key_is_sent_once_within_its_window_and_again_after() -> None:
    sent = SentOnce()
    assert sent.first("/chat", Once("k", {"id": 1}, 0.05)) is True
    retry = Once("k", {"id": 2}, 0.05)
    assert sent.first("/chat", retry) is False and retry.earlier == {"id": 1}
    assert sent.first("/other", Once("k", {"id": 3}, 0.05)) is True  # per namespace
    time.sleep(0.06)  # the window passes: what the test is about
    late = Once("k", {"id": 4}, 0.05)
    assert sent.first("/chat", late) is True and late.earlier is None


def test_expired_keys_are_forgotten_first_and_a_live_one_stays() -> None:
    sent = SentOnce()
    assert sent.first("/chat", Once("short", 1, 0.01))
    assert sent.first("/chat", Once("long", 2, 60))
    time.sleep(0.02)
    assert sent.first("/chat", Once("new", 3, 60))  # trims what expired, oldest first
    retry = Once("long", 4, 60)
    assert sent.first("/chat", retry) is False and retry.earlier == 2
    assert sent.first("/chat", Once("short", 5, 60)) is True


def test_at_most_max_remembered_keys_the_oldest_forgotten_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(once_module, "MAX_REMEMBERED", 3)
    sent = SentOnce()
    for key in ("k1", "k2", "k3"):
        assert sent.first("/chat", Once(key, key, 60))
    assert sent.first("/chat", Once("k1", "again", 60)) is False  # three fit
    assert sent.first("/chat", Once("k4", "k4", 60))
    assert sent.first("/chat", Once("k4", "again", 60)) is False  # the newest stays
    assert sent.first("/chat", Once("k1", "again", 60)) is True  # the oldest went
