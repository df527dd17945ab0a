"""``socketsvc contract`` as a command: its help, its output file, its configuration."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_node import run_cli
from tests.contract.conftest import contract_cli


async def test_help_says_what_the_command_writes() -> None:
    code, out = await run_cli("--help")
    assert code == 0 and "contract" in out and "TypeScript types or an AsyncAPI" in out
    code, out = await run_cli("contract", "--help")
    assert code == 0, out
    assert "--format {typescript,asyncapi}" in out and "--output PATH" in out
    assert "exit status 2" in out  # what it does with annotations it cannot show


async def test_a_bad_configuration_exits_2_as_serve_does(tmp_path: Path) -> None:
    config = tmp_path / "app.toml"
    config.write_text('[namespaces]\n"/x" = "no_such_module:Handler"\n')
    code, out = await contract_cli("--config", str(config), "--format", "typescript")
    assert code == 2, out
    assert (
        "socketsvc: configuration error: namespaces./x: cannot import module 'no_such_module'"
        in out
    )
    code, out = await contract_cli(
        "--format", "typescript", "--config", str(tmp_path / "none.toml")
    )
    assert code == 2 and "configuration error" in out, out


async def test_the_output_file_is_what_standard_output_would_be(
    tmp_path: Path, auction_config: Path
) -> None:
    output = tmp_path / "out" / "contract.ts"
    output.parent.mkdir()
    output.write_text("stale")
    code, printed = await contract_cli("--config", str(auction_config), "--format", "typescript")
    assert code == 0, printed
    code, out = await contract_cli(
        "--config", str(auction_config), "--format", "typescript", "--output", str(output)
    )
    assert code == 0 and out == "", out
    assert output.read_text() == printed
    assert [p.name for p in output.parent.iterdir()] == ["contract.ts"]  # no leftovers


async def test_the_asyncapi_document_says_which_parsers_clients_use(tmp_path: Path) -> None:
    config = tmp_path / "app.toml"
    config.write_text('serializer = "msgpack"\nport = 9123\n')
    code, out = await contract_cli("--config", str(config), "--format", "asyncapi")
    assert code == 0, out
    document = json.loads(out)
    assert document["defaultContentType"] == "application/msgpack"
    assert (
        "socket.io-msgpack-parser (the server accepts no other)" in document["info"]["description"]
    )
    assert document["servers"]["socketsvc"]["host"] == "localhost:9123"
