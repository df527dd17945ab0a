"""Mistakes in a handler class are caught when it is defined, naming class and method; the
same mistakes in a configured module stop start-up with exit status 2."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
from annotated_types import Ge

from socketsvc.errors import InvalidPayload
from socketsvc.handlers import BaseNamespace, HandlerError, Length, Services, event
from socketsvc.handlers.checks import EventSpec
from tests.cli_node import run_cli


def refusal(define: Any) -> str:
    """The whole message of the HandlerError raised by ``define()`` (a class definition)."""
    with pytest.raises(HandlerError) as caught:
        define()
    return str(caught.value)


def test_a_plain_def_event_handler_is_refused() -> None:
    def define() -> None:
        class Sync(BaseNamespace):
            def on_draw(self, sid: str) -> None:
                return None

    assert refusal(define) == (
        "Sync.on_draw is a plain 'def': event handlers must be 'async def' "
        "(clients could not reach it)"
    )


def test_a_plain_def_marked_as_event_is_refused() -> None:
    def define() -> None:
        class Marked(BaseNamespace):
            @event("draw-line")
            def draw(self, sid: str) -> None:  # type: ignore[type-var]
                return None

    assert refusal(define).startswith("Marked.draw is a plain 'def'")


def test_an_on_name_that_is_not_a_method_is_refused() -> None:
    def define() -> None:
        class Valued(BaseNamespace):
            on_draw = 5

    assert refusal(define) == "Valued.on_draw is not a method: on_* names are reserved for events"


def test_class_names_in_messages_are_what_a_reader_wrote() -> None:
    """``Outer.Board``, never ``test_x.<locals>.Board`` however deep the definition is."""

    def outer() -> None:
        def inner() -> None:
            class Board(BaseNamespace):
                def on_draw(self, sid: str) -> None:
                    return None

        inner()

    assert refusal(outer).startswith("Board.on_draw is a plain 'def'")

    def nested() -> None:
        class Outer:
            class Board(BaseNamespace):
                def on_draw(self, sid: str) -> None:
                    return None

    assert refusal(nested).startswith("Outer.Board.on_draw is a plain 'def'")


def test_python_socketios_two_argument_on_connect_is_refused() -> None:
    def define() -> None:
        class Legacy(BaseNamespace):
            async def on_connect(self, sid: str, environ: Mapping[str, Any]) -> None:  # type: ignore[override]
                return None

    assert refusal(define) == (
        "Legacy.on_connect(self, sid, environ) must accept (sid, environ, auth): "
        "async def on_connect(self, sid, environ, auth)"
    )


@pytest.mark.parametrize(
    "method, shape",
    [
        ("on_disconnect", "async def on_disconnect(self, sid, reason)"),
        ("after_connect", "async def after_connect(self, sid)"),
        ("can_join", "async def can_join(self, sid, room)"),
        ("on_release", "async def on_release(self)"),
    ],
)
def test_lifecycle_methods_must_be_async_with_the_server_arguments(method: str, shape: str) -> None:
    def plain(self: Any, *args: Any) -> None:
        return None

    async def too_many(self: Any, a: Any, b: Any, c: Any, d: Any = 1) -> None:
        return None

    wanted = shape[shape.index("(self") + 5 :].lstrip(", ")[:-1]
    assert refusal(lambda: type("Bad", (BaseNamespace,), {method: plain})) == (
        f"Bad.{method} must be written as '{shape}'"
    )
    assert refusal(lambda: type("Bad", (BaseNamespace,), {method: too_many})) == (
        f"Bad.{method}(self, a, b, c, d) must accept ({wanted}): {shape}"
    )


def test_lifecycle_methods_with_the_server_arguments_are_accepted() -> None:
    class Complete(BaseNamespace):
        async def on_connect(self, sid: str, environ: Any, auth: Any) -> None:
            return None

        async def after_connect(self, sid: str, *extra: Any) -> None:
            return None

        async def on_disconnect(self, sid: str, reason: str, note: str = "") -> None:
            return None

        async def can_join(self, sid: str, room: str) -> bool:
            return True

        async def on_release(self) -> None:
            return None

        @classmethod
        async def lifespan(cls, services: Services) -> AsyncIterator[None]:
            yield

    assert Complete.events == {}


def test_an_init_the_server_cannot_call_is_refused() -> None:
    def define() -> None:
        class Needy(BaseNamespace):
            def __init__(self, namespace: str) -> None:
                super().__init__(namespace, None)  # type: ignore[arg-type]

    assert refusal(define) == (
        "Needy.__init__(self, namespace) must accept (namespace, services) "
        "and pass both to super().__init__"
    )


def test_length_on_a_type_without_length_names_class_method_and_parameter() -> None:
    with pytest.raises(
        HandlerError, match=r"Sized\.on_move: parameter 'steps': .*cannot apply to int"
    ):

        class Sized(BaseNamespace):
            async def on_move(self, sid: str, steps: Annotated[int, Length(1, 2)]) -> None:
                return None


def test_a_lifespan_must_be_an_async_generator_classmethod_of_services() -> None:
    shape = (
        "Hooked.lifespan must be an async generator classmethod: "
        "@classmethod async def lifespan(cls, services): ... yield ..."
    )

    def coroutine() -> None:
        class Hooked(BaseNamespace):
            @classmethod
            async def lifespan(cls, services: Services) -> None:  # type: ignore[override]
                return None

    def not_a_classmethod() -> None:
        class Hooked(BaseNamespace):
            async def lifespan(self, services: Services) -> AsyncIterator[None]:  # type: ignore[override]
                yield

    def no_services() -> None:
        class Hooked(BaseNamespace):
            @classmethod
            async def lifespan(cls) -> AsyncIterator[None]:  # type: ignore[override]
                yield

    assert refusal(coroutine) == shape
    assert refusal(not_a_classmethod) == shape
    assert refusal(no_services) == "Hooked.lifespan(cls) must accept (services)"

    class Fine(BaseNamespace):
        @classmethod
        async def lifespan(cls, services: Services) -> AsyncIterator[None]:
            yield

    assert Fine.lifespan is not None


def test_forward_references_are_resolved_at_start_up() -> None:
    namespace: dict[str, Any] = {}
    exec(
        textwrap.dedent(
            """
            from __future__ import annotations
            from dataclasses import dataclass
            from socketsvc.handlers import BaseNamespace

            class Later(BaseNamespace):
                async def on_go(self, sid: str, req: Request) -> str:
                    return req.name

            class Never(BaseNamespace):
                async def on_go(self, sid: str, req: Missing) -> None:
                    return None

            @dataclass
            class Request:
                name: str
            """
        ),
        namespace,
    )
    namespace["Later"].prepare()
    assert namespace["Later"]._specs["go"].parse is not None
    with pytest.raises(HandlerError, match=r"Never\.on_go: annotation cannot be resolved"):
        namespace["Never"].prepare()


MISTAKES = {
    "plain_def": (
        "class Board(BaseNamespace):\n    def on_draw(self, sid):\n        return 1\n",
        "Board.on_draw is a plain 'def'",
    ),
    "two_arg_connect": (
        "class Board(BaseNamespace):\n"
        "    async def on_connect(self, sid, environ):\n        return None\n",
        "Board.on_connect(self, sid, environ) must accept (sid, environ, auth)",
    ),
    "bad_init": (
        "class Board(BaseNamespace):\n"
        "    def __init__(self, namespace, services, extra):\n"
        "        super().__init__(namespace, services)\n",
        "Board.__init__(self, namespace, services, extra) must accept (namespace, services)",
    ),
    "init_raises": (
        "class Board(BaseNamespace):\n"
        "    def __init__(self, namespace, services):\n"
        "        raise RuntimeError('no database')\n",
        "Board.__init__ failed: RuntimeError: no database",
    ),
    "length_on_int": (
        "from typing import Annotated\nfrom socketsvc.handlers import Length\n"
        "class Board(BaseNamespace):\n"
        "    async def on_move(self, sid, steps: Annotated[int, Length(1, 5)]):\n"
        "        return None\n",
        "Board.on_move: parameter 'steps': Length(min=1, max=5) cannot apply to int",
    ),
}


# A pattern class is first built on connect, so its failing __init__ is a connect error
# there (tests/handlers/test_lifecycle.py), not a start-up one.
CASES = [
    (mistake, namespace)
    for mistake in MISTAKES
    for namespace in ("/board", "/board/*")
    if not (mistake == "init_raises" and namespace.endswith("*"))
]


@pytest.mark.parametrize("mistake, namespace", CASES)
async def test_mistakes_stop_start_up_with_exit_2_naming_class_and_method(
    tmp_path: Path, mistake: str, namespace: str
) -> None:
    source, expected = MISTAKES[mistake]
    module = f"mistake_{mistake}"
    (tmp_path / f"{module}.py").write_text(
        "from socketsvc.handlers import BaseNamespace\n" + source
    )
    config = tmp_path / "app.toml"
    config.write_text(f'[namespaces]\n"{namespace}" = "{module}:Board"\n')
    code, out = await run_cli("serve", "--port", "0", "--config", str(config))
    assert code == 2, out
    assert expected in out, out
    assert f"namespaces.{namespace}" in out
    assert "Traceback" not in out


async def test_a_lifespan_hook_that_fails_stops_start_up_naming_the_class(tmp_path: Path) -> None:
    (tmp_path / "failing_hook.py").write_text(
        "from socketsvc.handlers import BaseNamespace\n"
        "class Board(BaseNamespace):\n"
        "    @classmethod\n"
        "    async def lifespan(cls, services):\n"
        "        raise ConnectionError('database unreachable')\n"
        "        yield\n"
    )
    config = tmp_path / "app.toml"
    config.write_text('[namespaces]\n"/board" = "failing_hook:Board"\n')
    code, out = await run_cli("serve", "--port", "0", "--config", str(config))
    assert code == 1, out
    assert (
        "socketsvc: start-up failed: Board.lifespan failed: ConnectionError: database unreachable"
        in out
    )
    assert "listening on" not in out


# -- events: names, and the arguments each one declares -----------------------------------------
def test_an_event_name_has_at_most_64_characters() -> None:
    name = "a" * 64

    class Long(BaseNamespace):
        @event(name)
        async def longest(self, sid: str) -> None:
            return None

    assert Long.events == {name: "longest"}
    with pytest.raises(HandlerError, match=r"Longer\.longer: 'a{65}' cannot be an event name"):

        class Longer(BaseNamespace):
            @event("a" * 65)
            async def longer(self, sid: str) -> None:
                return None


def test_one_event_cannot_have_two_handlers() -> None:
    with pytest.raises(HandlerError, match=r"event 'draw' is also handled by"):

        class Twice(BaseNamespace):
            async def on_draw(self, sid: str) -> None:
                return None

            @event("draw")
            async def paint(self, sid: str) -> None:
                return None


@dataclass(frozen=True)
class Spot:
    x: int
    y: int


def test_several_declared_arguments_are_each_named_and_defaults_are_left_alone() -> None:
    """A lone payload's problem names its field bare (``'y'``); with several arguments the
    argument's name comes first (``'spot.y'``, ``'steps'``). An argument the client did not
    send keeps the handler's default, unparsed."""

    class Moves(BaseNamespace):
        async def on_one(self, sid: str, spot: Spot) -> None:
            return None

        async def on_two(
            self, sid: str, spot: Spot, steps: Annotated[int, Ge(0)] = 1, note: str = "x"
        ) -> None:
            return None

    one, two = Moves._specs["one"].parse, Moves._specs["two"].parse  # type: ignore[index]
    assert one is not None and two is not None
    with pytest.raises(InvalidPayload) as caught:
        one(({"x": 1, "y": "a"},))
    assert caught.value.field == "y"
    assert two(({"x": 1, "y": 2},)) == (Spot(1, 2),)
    assert two(({"x": 1, "y": 2}, 3)) == (Spot(1, 2), 3)
    for args, where in (
        (({"x": 1, "y": "a"}, 3), "spot.y"),
        (({"x": 1, "y": 2}, -1), "steps"),
        (({"x": 1, "y": 2}, 1, 5), "note"),
    ):
        with pytest.raises(InvalidPayload) as caught:
            two(args)
        assert caught.value.field == where, args
    assert (Moves._specs["two"].least, Moves._specs["two"].most) == (1, 3)  # type: ignore[index]


def test_each_event_spec_holds_its_method_arity_and_parser() -> None:
    """Defined here, not at import: what a class definition computes is computed under test."""

    class Specs(BaseNamespace):
        async def on_bare(self, sid: str) -> None:
            return None

        async def on_free(self, sid, a, b=1):  # type: ignore[no-untyped-def]  # anything
            return None

        async def on_many(self, sid: str, first: int, *rest: Any) -> None:
            return None

        @event("typed-one")
        async def typed(self, sid: str, spot: Spot) -> None:
            return None

    specs = Specs._specs
    assert specs is not None
    assert specs["bare"] == EventSpec("on_bare", 0, 0, None, Specs.on_bare)
    assert specs["free"] == EventSpec("on_free", 1, 2, None, Specs.on_free)  # nothing declared
    many = specs["many"]
    assert (many.attr, many.least, many.most) == ("on_many", 1, float("inf"))
    assert many.parse is not None and many.parse((1, "x", None)) == (1, "x", None)
    with pytest.raises(InvalidPayload):
        many.parse(("1",))
    typed = specs["typed-one"]
    assert (typed.attr, typed.least, typed.most) == ("typed", 1, 1)
    assert typed.parse is not None and typed.parse(({"x": 1, "y": 2},)) == (Spot(1, 2),)
