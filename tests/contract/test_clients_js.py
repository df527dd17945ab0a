"""clients/js takes its ``/chat`` types from the contract generated from the handlers: the
committed ``src/contract.ts`` is what ``socketsvc contract`` writes today (CI fails when the
handlers and it drift), and the package builds from a freshly generated one."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.contract.conftest import contract_cli, errors, tsc

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "js"
COMMITTED = CLIENT / "src" / "contract.ts"


async def built_ins() -> str:
    """The contract of the built-in namespaces: no config file, no SOCKETSVC_* variables."""
    code, out = await contract_cli("--format", "typescript")
    assert code == 0, out
    return out


async def test_the_committed_chat_contract_is_what_the_handlers_say() -> None:
    generated = await built_ins()
    assert "export interface ChatClientToServerEvents" in generated
    assert COMMITTED.read_text() == generated, (
        "clients/js/src/contract.ts differs from what socketsvc/handlers says: run "
        "`npm run contract` in clients/js (PYTHON=.venv/3.13/bin/python) and commit it"
    )


def copy_package(target: Path, node_modules: Path) -> Path:
    """clients/js's sources, configs and type checks, with its npm packages."""
    target.mkdir()
    shutil.copytree(CLIENT / "src", target / "src")
    shutil.copytree(CLIENT / "test", target / "test")
    for name in ("tsconfig.json", "tsconfig.test.json", "package.json"):
        shutil.copy(CLIENT / name, target / name)
    (target / "node_modules").symlink_to(node_modules, target_is_directory=True)
    return target


async def test_the_package_builds_from_a_freshly_generated_contract(
    node_modules: Path, tmp_path: Path
) -> None:
    package = copy_package(tmp_path / "client", node_modules)
    (package / "src" / "contract.ts").write_text(await built_ins())
    code, out = await tsc(package)  # the library build: dist/ with declarations
    assert code == 0 and not errors(out), out
    assert (package / "dist" / "chat.d.ts").exists() and (
        package / "dist" / "contract.d.ts"
    ).exists()
    code, out = await tsc(package, config="tsconfig.test.json")  # the compile-time type checks
    assert code == 0 and not errors(out), out


async def test_the_package_does_not_build_when_the_contract_breaks_it(
    node_modules: Path, tmp_path: Path
) -> None:
    """The build depends on the generated types: a handler whose ack type changes shape
    breaks the package's compile (here: JoinAck without its members)."""
    package = copy_package(tmp_path / "client", node_modules)
    generated = await built_ins()
    broken = generated.replace(
        "  members: string[];\n  history?: ChatMessage[];", "  history?: ChatMessage[];"
    )
    assert broken != generated
    (package / "src" / "contract.ts").write_text(broken)
    code, out = await tsc(package, config="tsconfig.test.json")
    assert code != 0 and any("members" in e for e in errors(out)), out
