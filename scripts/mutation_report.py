"""The tables printed by scripts/mutation: per module, what the last runs found.

Reads mutmut's results (``build/mutation/<module>/mutants/socketsvc/<module>.py.meta``), the
hand-written mutants' (``build/mutation/<module>/hand.json``, see scripts/mutation_hand.py)
and the equivalent mutants named in tests/MUTATION.md (a line holding a backquoted mutant
name, ``socketsvc.<module>.<function>__mutmut_<n>`` or ``hand:<module>:<name>``, and the
reason). Exits 1 when a survivor is not named there, or a name there is no longer a surviving
mutant (the code or the tests changed: look at it again), or no test in the module's list runs
a mutated function, or a hand-written mutant no longer applies.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTE = ROOT / "tests" / "MUTATION.md"
NAME = re.compile(r"`(socketsvc\.[^`\s]+__mutmut_\d+|hand:[^`\s]+)`")
# mutmut's exit codes per mutant (mutmut/stats.py): 1 and 3 killed, 0 survived, the rest below.
# A segfault (-11) means the tests could not pass either (a mutant that crashes the msgpack C
# extension): counted as killed.
KILLED, SURVIVED = {1, 3, -11}, {0}
TIMEOUT = {36, -24, 24, 152, 255}
NO_TESTS = {5, 33}


def equivalents() -> set[str]:
    return set(NAME.findall(NOTE.read_text(encoding="utf-8"))) if NOTE.exists() else set()


def results(module: str) -> dict[str, int | None]:
    work = ROOT / "build" / "mutation" / module.replace("/", "-")
    meta = work / "mutants" / "socketsvc" / f"{module}.py.meta"
    if not meta.exists():
        return {}
    codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return codes


def hand_results(module: str) -> dict[str, dict[str, object]]:
    path = ROOT / "build" / "mutation" / module.replace("/", "-") / "hand.json"
    if not path.exists():
        return {}
    found: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    return {f"hand:{module}:{name}": result for name, result in found.items()}


def hand_table(modules: list[str], named: set[str]) -> list[str]:
    """The hand-written mutants' table; returns the problems (for the exit status)."""
    problems: list[str] = []
    columns = ["mutants", "killed", "survived", "named", "stale"]
    print(f"\n| hand-written mutants of | {' | '.join(columns)} |")
    print(f"|---|{'---:|' * len(columns)}")
    totals = dict.fromkeys(columns, 0)
    for module in modules:
        found = hand_results(module)
        if not found:
            continue
        status = {name: str(result["status"]) for name, result in found.items()}
        survived = {name for name, s in status.items() if s == "survived"}
        counts = {
            "mutants": len(found),
            "killed": sum(s in ("killed", "timeout") for s in status.values()),
            "survived": len(survived - named),
            "named": len(survived & named),
            "stale": sum(s not in ("killed", "timeout", "survived") for s in status.values()),
        }
        print(f"| socketsvc/{module}.py | {' | '.join(str(counts[c]) for c in columns)} |")
        for c in columns:
            totals[c] += counts[c]
        problems += [f"survived, not explained in tests/MUTATION.md: {n}" for n in survived - named]
        problems += [
            f"hand-written mutant no longer applies ({status[n]}): {n}"
            for n in sorted(status)
            if status[n] not in ("killed", "timeout", "survived")
        ]
        prefix = f"hand:{module}:"
        problems += [
            f"named in tests/MUTATION.md but not a survivor of the last run: {n}"
            for n in sorted(named)
            if n.startswith(prefix) and n not in survived
        ]
    print(f"| total | {' | '.join(str(totals[c]) for c in columns)} |")
    return sorted(problems)


def main(modules: list[str]) -> int:
    named = equivalents()
    rows = []
    unexplained: list[str] = []
    untested: list[str] = []
    stale: list[str] = []
    for module in modules:
        codes = results(module)
        prefix = f"socketsvc.{module.replace('/', '.')}."
        survived = {name for name, code in codes.items() if code in SURVIVED}
        equivalent = survived & named
        unexplained += sorted(survived - named)
        no_tests = {name for name, code in codes.items() if code in NO_TESTS}
        untested += sorted(no_tests - named)  # (a function no test can reach, named with why)
        if codes:  # (a module whose mutmut run is absent has nothing to compare with)
            gone = survived | no_tests
            stale += sorted(n for n in named if n.startswith(prefix) and n not in gone)
        counts = {
            "mutants": len(codes),
            "killed": sum(code in KILLED or code in TIMEOUT for code in codes.values()),
            "survived": len(survived - named),
            "named": len(equivalent),
            "no tests": sum(code in NO_TESTS for code in codes.values()),
            "not run": sum(code is None for code in codes.values()),
        }
        counts["other"] = counts["mutants"] - sum(
            counts[k] for k in ("killed", "survived", "named", "no tests", "not run")
        )
        rows.append((f"socketsvc/{module}.py", counts))
    columns = ["mutants", "killed", "survived", "named", "no tests", "not run", "other"]
    print(f"| module | {' | '.join(columns)} |")
    print(f"|---|{'---:|' * len(columns)}")
    totals = dict.fromkeys(columns, 0)
    for path, counts in rows:
        print(f"| {path} | {' | '.join(str(counts[c]) for c in columns)} |")
        for c in columns:
            totals[c] += counts[c]
    print(f"| total | {' | '.join(str(totals[c]) for c in columns)} |")
    tested = totals["mutants"] - totals["no tests"] - totals["not run"] - totals["named"]
    if tested:
        print(
            f"\nkill rate (killed / mutants not named in tests/MUTATION.md): "
            f"{100 * totals['killed'] / tested:.1f}%"
        )
    hand_problems = hand_table(modules, named)
    for name in unexplained:
        print(f"survived, not explained in tests/MUTATION.md: {name}")
    for name in untested:
        print(f"no test in the module's list runs this function: {name}")
    for name in stale:
        print(f"named in tests/MUTATION.md but not a survivor of the last run: {name}")
    for problem in hand_problems:
        print(problem)
    return 1 if unexplained or untested or stale or hand_problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
