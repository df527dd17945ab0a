"""Hand-written mutants: the mistakes a developer makes while changing the code.

mutmut's operators flip one token at a time (``<`` to ``<=``, ``and`` to ``or``, a string to
``"XX..XX"``). The mistakes that slip past a suite are of another kind: a bound merged the
wrong way, a condition dropped, two arguments swapped, a filter missing, a guard that covers
one step instead of two. Each module has a list of such mistakes in
``scripts/hand_mutants/<area>-<module>.toml``::

    [[mutant]]
    name = "max-length-last-wins"
    why = "two maximum lengths on one value merged as the last one instead of the tighter"
    old = "plan.max_len = top if plan.max_len is None else min(plan.max_len, top)"
    new = "plan.max_len = top"

``old`` must occur exactly once in the module (so a mutant cannot silently stop applying when
the code changes). Each mutant is written into a copy of the source tree
(``build/mutation/<module>/hand/``) and the module's test files run against it with ``-x``; a
test failure kills it. The results go to ``hand.json`` beside mutmut's, for
``scripts/mutation_report.py``.

    python scripts/mutation_hand.py MODULE TEST_FILE...   (scripts/mutation runs it)

``HAND_MUTANTS=name,name`` runs only those (to watch one mistake fail its test).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTS = ROOT / "scripts" / "hand_mutants"
TIMEOUT = 900  # seconds per mutant: more than any module's test list takes unmutated
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)
# pytest's exit status: 1 a test failed, 2 collection failed or interrupted (-x); -1 the time
# ran out (a test hangs: killed, as mutmut counts it)
STATUS = {0: "survived", 1: "killed", 2: "killed", -1: "timeout"}


def mutants_of(module: str) -> list[dict[str, str]]:
    path = LISTS / f"{module.replace('/', '-')}.toml"
    if not path.exists():
        return []
    entries: list[dict[str, str]] = tomllib.loads(path.read_text(encoding="utf-8"))["mutant"]
    only = {n for n in os.environ.get("HAND_MUTANTS", "").split(",") if n}
    return [e for e in entries if e["name"] in only] if only else entries


def work_dir(module: str) -> Path:
    some = "HAND_MUTANTS" in os.environ  # a copy of its own: a full run may be using "hand"
    return (
        ROOT / "build" / "mutation" / module.replace("/", "-") / ("hand-some" if some else "hand")
    )


def prepare(work: Path) -> None:
    """A copy of socketsvc/ and tests/ (copies, not links: the tests must import the mutated
    tree, and pytest resolves links), with links to what the tests only read."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "artifacts")
    for tree in ("socketsvc", "tests"):
        shutil.copytree(ROOT / tree, work / tree, ignore=ignore)
    for link in ("setup.cfg", "clients", "bench", "deploy", "docs", "scripts", "pyproject.toml"):
        (work / link).symlink_to(ROOT / link)


def run_tests(work: Path, tests: list[str]) -> tuple[int, str, float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return -1, "", time.monotonic() - started
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def main(module: str, tests: list[str]) -> int:
    mutants = mutants_of(module)
    work = work_dir(module)
    results: dict[str, dict[str, object]] = {}
    if not mutants:
        return 0
    source = ROOT / "socketsvc" / f"{module}.py"
    original = source.read_text(encoding="utf-8")
    prepare(work)
    target = work / "socketsvc" / f"{module}.py"
    for _ in range(3):  # a test that fails now and then under load must not stop the run
        code, output, _ = run_tests(work, tests)
        if code == 0:
            break
        print(f"hand mutants of {module}: the tests fail unmutated: {FAILED.findall(output)}")
    else:
        print(output[-3000:])
        return 2
    # The copy, not the worktree, must be what the tests import: break it and see them fail.
    (work / "socketsvc" / "__init__.py").write_text("raise ImportError('hand mutation canary')\n")
    code, _, _ = run_tests(work, tests[:1])
    shutil.copy(ROOT / "socketsvc" / "__init__.py", work / "socketsvc" / "__init__.py")
    if code == 0:
        print(f"hand mutants of {module}: the tests do not import the copy in {work}")
        return 2
    report = work.parent / ("hand.json" if "HAND_MUTANTS" not in os.environ else "hand-some.json")
    report.unlink(missing_ok=True)

    def record(name: str, result: dict[str, object]) -> None:
        results[name] = result
        print(f"  {name}: {result['status']} {result.get('detail') or result.get('by') or ''}")
        report.write_text(json.dumps(results, indent=1), encoding="utf-8")

    for mutant in mutants:
        name, count = mutant["name"], original.count(mutant["old"])
        if count != 1:
            record(name, {"status": "stale", "detail": f"'old' found {count} times"})
            continue
        mutated = original.replace(mutant["old"], mutant["new"])
        try:
            compile(mutated, str(target), "exec")
        except SyntaxError as exc:
            record(name, {"status": "stale", "detail": f"not valid Python: {exc}"})
            continue
        target.write_text(mutated, encoding="utf-8")
        try:
            code, output, seconds = run_tests(work, tests)
        finally:
            target.write_text(original, encoding="utf-8")
        status = STATUS.get(code, f"error {code}")
        record(name, {"status": status, "seconds": round(seconds, 1), "by": FAILED.findall(output)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
