"""What ``socketsvc contract`` cannot show stops it like the start-up checks stop ``serve``:
one line naming the namespace, method and parameter, exit status 2, no traceback, and no
output file written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.conftest import contract_cli

HEADER = (
    "from dataclasses import dataclass\n"
    "from datetime import datetime\n"
    "from fractions import Fraction\n"
    "from pydantic import BaseModel\n"
    "from typing import Annotated, Literal, TypedDict\n"
    "from annotated_types import Ge\n"
    "from socketsvc.handlers import BaseNamespace, Length, Pattern, ServerEvent\n"
)
MISTAKES = {
    "bytes literal": (
        "class Board(BaseNamespace):\n"
        "    async def on_draw(self, sid, mode: Literal[b'raw', b'svg']) -> None: ...\n",
        "/board: Board.on_draw: parameter 'mode': Literal[b'raw'] has no JSON Schema or "
        "TypeScript form",
    ),
    "python-only pattern": (
        "@dataclass\n"
        "class Stroke:\n"
        "    colour: Annotated[str, Pattern(r'(?P<hex>[0-9a-f]{6})')]\n"
        "class Board(BaseNamespace):\n"
        "    async def on_draw(self, sid, stroke: Stroke) -> None: ...\n",
        "/board: Board.on_draw: parameter 'stroke': Pattern('(?P<hex>[0-9a-f]{6})') uses a "
        "(?P...) group, which JSON Schema (ECMA-262) patterns lack",
    ),
    "integer keys returned": (
        "class Board(BaseNamespace):\n    async def on_scores(self, sid) -> dict[int, str]: ...\n",
        "/board: Board.on_scores: return value: dict: map keys sent to a client must be strings",
    ),
    "datetime returned": (
        "class Board(BaseNamespace):\n"
        "    async def on_when(self, sid) -> dict[str, datetime]: ...\n",
        "/board: Board.on_when: return value: datetime cannot be sent to a client",
    ),
    "fraction bound": (
        "class Board(BaseNamespace):\n"
        "    async def on_zoom(self, sid, level: Annotated[float, Ge(Fraction(1, 2))]):\n"
        "        return None\n",
        "/board: Board.on_zoom: parameter 'level': >= Fraction(1, 2): JSON Schema bounds "
        "are numbers",
    ),
    "pydantic model field": (
        "class Stroke(BaseModel):\n"
        "    at: datetime\n"
        "class Board(BaseNamespace):\n"
        "    async def on_draw(self, sid, stroke: Stroke) -> None: ...\n",
        "/board: Board.on_draw: parameter 'stroke': datetime cannot come from a client",
    ),
    "server event payload": (
        "class Board(BaseNamespace):\n    cleared = ServerEvent[set[int]]()\n",
        "/board: Board.cleared (ServerEvent 'cleared'): payload: set cannot be sent to a client",
    ),
    "unresolvable server event": (
        "class Board(BaseNamespace):\n    cleared = ServerEvent['Nowhere']()\n",
        "/board: Board.cleared (ServerEvent 'cleared'): payload annotation cannot be resolved: "
        "name 'Nowhere' is not defined",
    ),
    "unresolvable ack type": (
        "class Ack(TypedDict):\n"
        "    when: 'Later'\n"
        "class Board(BaseNamespace):\n"
        "    async def on_ask(self, sid) -> Ack: ...\n",
        "/board: Board.on_ask: return value: annotation cannot be resolved: name 'Later' is not "
        "defined",
    ),
    # what serve refuses at start-up, contract refuses the same way
    "start-up check": (
        "class Board(BaseNamespace):\n"
        "    async def on_move(self, sid, steps: Annotated[int, Length(1, 5)]) -> None: ...\n",
        "configuration error: namespaces./board: Board.on_move: parameter 'steps': "
        "Length(min=1, max=5) cannot apply to int",
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
async def test_an_annotation_without_a_form_exits_2_naming_method_and_parameter(
    tmp_path: Path, mistake: str
) -> None:
    source, expected = MISTAKES[mistake]
    module = "mistake_" + mistake.replace(" ", "_").replace("-", "_")
    (tmp_path / f"{module}.py").write_text(HEADER + source)
    config = tmp_path / "app.toml"
    config.write_text(f'[namespaces]\n"/board" = "{module}:Board"\n')
    output = tmp_path / "contract.ts"
    # (both formats read the contract first: one case runs both)
    for fmt in ("typescript", "asyncapi") if mistake == "bytes literal" else ("asyncapi",):
        code, out = await contract_cli(
            "--config", str(config), "--format", fmt, "--output", str(output)
        )
        assert code == 2, out
        assert f"socketsvc: {'' if 'configuration' in expected else 'contract: '}{expected}" in out
        assert "Traceback" not in out and len(out.strip().splitlines()) == 1, out
        assert not output.exists()  # nothing half written


async def test_namespaces_whose_type_names_would_collide_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "app.toml"
    config.write_text(
        '[namespaces]\n"/my-app" = "tests.contract.auction:AuctionNamespace"\n'
        '"/my_app" = "tests.contract.auction:AuctionNamespace"\n'
    )
    code, out = await contract_cli("--config", str(config), "--format", "typescript")
    assert code == 2, out
    assert "namespaces /my-app and /my_app both make TypeScript names MyApp...: rename one" in out
