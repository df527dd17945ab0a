"""The event path: a client's event to its handler, and the handler's return value back as
the ack. Every event of every client goes through :meth:`EventDispatcher.dispatch`.

One event is the server's own: ``auth:refresh`` (a new token for the connection) goes to the
``refresh`` it is given, after the same checks as any event (rate limit included), never to a
handler nor to observers of event data (it carries a token).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from socketsvc import errors, protocol
from socketsvc.errors import OncePerCause, Unencodable, UnsupportedValue
from socketsvc.protocol import PacketError
from socketsvc.security.limits import Verdict

from .handler import Handler
from .observer import Observer, listens
from .tasks import TaskSet
from .tokens import TOKEN_REFRESH

log = logging.getLogger("socketsvc.server")
ALLOW = Verdict.ALLOW  # a module constant: an Enum's class attribute costs more to read

# send(eio_sid, packet type, namespace, data, ack id): encode in the client's format and queue.
Send = Callable[[str, int, str, Any, "int | None"], None]
# refresh(sid, namespace, arguments): the ack of an ``auth:refresh`` (an error ack on refusal).
Refresh = Callable[[str, str, list[Any]], Awaitable[Any]]


class EventDispatcher:
    """Starts each event's handler in a task of its own, in arrival order, and acks it.

    Checks come first, cheapest first: the sender must be connected to the namespace (else
    :class:`PacketError`, which closes its connection), within its event rate (else
    ``rate_limited``; a sustained excess calls ``on_rate_exceeded``), and its data must have
    decoded faithfully (else ``invalid_payload``).
    """

    def __init__(
        self,
        manager: Any,
        handlers: dict[str, Handler],
        event_verdict: Callable[[str], Verdict] | None,
        tasks: TaskSet,
        send: Send,
        on_rate_exceeded: Callable[[str, str], None],
        observer: Observer,
        refresh: Refresh,
    ) -> None:
        self.manager = manager
        self.handlers = handlers
        self.event_verdict = event_verdict
        self.tasks = tasks
        self.send = send
        self.on_rate_exceeded = on_rate_exceeded
        self.observer = observer
        self.refresh = refresh
        # Called for every event only when someone listens (the Admin UI's feed).
        self.event_received = (
            observer.event_received if listens(observer, "event_received") else None
        )
        self.log_refusal = OncePerCause(log)

    def dispatch(
        self, eio_sid: str, namespace: str, id: int | None, data: list[Any], problem: str | None
    ) -> None:
        """Start the handler of one event (``data``: its name, then its arguments); never
        waits. Raises :class:`PacketError` when the sender is not in ``namespace``."""
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None:
            raise PacketError(f"not connected to namespace {namespace}")
        verdict = ALLOW if self.event_verdict is None else self.event_verdict(eio_sid)
        if verdict is not ALLOW:
            if verdict is Verdict.REFUSE:
                self.observer.rate_limited(namespace, False)
                text = "too many events, slow down"
                self.refuse(eio_sid, namespace, id, errors.RATE_LIMITED, text)
            elif verdict is Verdict.DISCONNECT:  # once per connection; then DROP until closed
                self.observer.rate_limited(namespace, True)
                self.on_rate_exceeded(eio_sid, sid)
        elif problem is not None:
            # Data that cannot be represented faithfully: say so, never guess.
            log.info(
                "refused event from sid=%s namespace=%s: %s",
                *(sid, namespace, problem),
                extra={"sid": sid, "eio_sid": eio_sid, "namespace": namespace},
            )
            self.refuse(eio_sid, namespace, id, errors.INVALID_PAYLOAD, problem)
        elif self.manager.settled(sid, namespace):
            event = data[0]
            if event == TOKEN_REFRESH:
                self.tasks.start(self._refresh(sid, namespace, data[1:], eio_sid, id))
                return
            if self.event_received is not None:
                self.event_received(namespace, sid, data)
            handler = self.handlers.get(namespace)
            if handler is None:
                text = f"no handlers in namespace {namespace}"
                self.refuse(eio_sid, namespace, id, errors.UNKNOWN_EVENT, text)
                return
            self.tasks.start(self._run(handler, event, sid, data[1:], eio_sid, id))

    async def _run(
        self,
        handler: Handler,
        event: str,
        sid: str,
        args: list[Any],
        eio_sid: str,
        id: int | None,
    ) -> None:
        """One event in its own task: the handler, then its ack."""
        namespace = handler.namespace
        started = perf_counter()
        acked, error = False, None
        try:
            try:
                function, parsed = handler.resolve(event, args)
                result = await function(handler, sid, *parsed)
            except Exception as exc:
                result = handler.failure(exc, event, sid)
            try:
                error = self.ack(eio_sid, namespace, id, result)
            except UnsupportedValue as exc:  # returned something no wire format carries
                handler.report_bug(event, exc.type_name, f"returned {exc}", sid)
                error = errors.INTERNAL
                reply = errors.error_ack(error, "internal server error")
                self.send(eio_sid, protocol.ACK, namespace, [reply], id)
            acked = id is not None
        except Exception:  # never an orphaned task failure
            log.exception(
                "event failed: sid=%s namespace=%s event=%s",
                *(sid, namespace, event),
                extra={"sid": sid, "namespace": namespace, "event": event},
            )
        finally:
            self.observer.event_handled(namespace, perf_counter() - started, acked, error)

    async def _refresh(
        self, sid: str, namespace: str, args: list[Any], eio_sid: str, id: int | None
    ) -> None:
        """``auth:refresh`` in its own task, acked like any event."""
        started = perf_counter()
        error = None
        try:
            error = self.ack(eio_sid, namespace, id, await self.refresh(sid, namespace, args))
        except Exception:  # never an orphaned task failure, nor a silent client
            log.exception(
                "token refresh failed: sid=%s namespace=%s",
                *(sid, namespace),
                extra={"sid": sid, "namespace": namespace},
            )
            error = errors.INTERNAL
            if id is not None:
                reply = errors.error_ack(error, "internal server error")
                self.send(eio_sid, protocol.ACK, namespace, [reply], id)
        finally:
            self.observer.event_handled(namespace, perf_counter() - started, id is not None, error)

    def refuse(self, eio_sid: str, namespace: str, id: int | None, code: str, text: str) -> None:
        """Answer an event no handler will see with an error ack, if it asked for one."""
        if id is not None:
            sent = self.ack(eio_sid, namespace, id, errors.error_ack(code, text))
            self.observer.refused(namespace, sent or code)

    def ack(self, eio_sid: str, namespace: str, id: int | None, result: Any) -> str | None:
        """Send a handler's return value as the ack, if the client asked for one: ``None`` is
        an ack without arguments, a tuple is several arguments, a dataclass its fields.
        Returns the code of the error ack sent, else None. Raises :class:`UnsupportedValue`
        for a type no wire format carries."""
        if id is None:
            return None
        args = [] if result is None else list(result) if isinstance(result, tuple) else [result]
        try:
            self.send(eio_sid, protocol.ACK, namespace, args, id)
        except Unencodable as exc:
            self.log_refusal(exc.cause, "ack not sent in %s: %s", namespace, exc.message)
            result = exc.to_ack()
            self.send(eio_sid, protocol.ACK, namespace, [result], id)
        return error_code(result) if type(result) is dict else None


def error_code(result: Any) -> str | None:
    """The code of an error ack ``{"error": {"code": ...}}``, else None."""
    if type(result) is not dict:
        return None
    error = result.get("error")
    if type(error) is not dict:
        return None
    code = error.get("code")
    return code if type(code) is str else "unknown"
