"""The table printed by scripts/mutation: per module, what mutmut's last run found.

Reads mutmut's results (``build/mutation/<module>/mutants/socketsvc/<module>.py.meta``) and
the equivalent mutants named in tests/MUTATION.md (a line holding a backquoted mutant name and
the reason). Exits 1 when a survivor is not named there, or a name there is no longer a
surviving mutant (the code or the tests changed: look at it again), or no test in the
module's list runs a mutated function.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTE = ROOT / "tests" / "MUTATION.md"
NAME = re.compile(r"`(socketsvc\.[^`\s]+__mutmut_\d+)`")
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
        untested += sorted(name for name, code in codes.items() if code in NO_TESTS)
        stale += sorted(n for n in named if n.startswith(prefix) and n not in survived)
        counts = {
            "mutants": len(codes),
            "killed": sum(code in KILLED or code in TIMEOUT for code in codes.values()),
            "survived": len(survived - named),
            "equivalent": len(equivalent),
            "no tests": sum(code in NO_TESTS for code in codes.values()),
            "not run": sum(code is None for code in codes.values()),
        }
        counts["other"] = counts["mutants"] - sum(
            counts[k] for k in ("killed", "survived", "equivalent", "no tests", "not run")
        )
        rows.append((f"socketsvc/{module}.py", counts))
    columns = ["mutants", "killed", "survived", "equivalent", "no tests", "not run", "other"]
    print(f"| module | {' | '.join(columns)} |")
    print(f"|---|{'---:|' * len(columns)}")
    totals = dict.fromkeys(columns, 0)
    for path, counts in rows:
        print(f"| {path} | {' | '.join(str(counts[c]) for c in columns)} |")
        for c in columns:
            totals[c] += counts[c]
    print(f"| total | {' | '.join(str(totals[c]) for c in columns)} |")
    tested = totals["mutants"] - totals["no tests"] - totals["not run"] - totals["equivalent"]
    if tested:
        print(
            f"\nkill rate (killed / mutants that are not equivalent): "
            f"{100 * totals['killed'] / tested:.1f}%"
        )
    for name in unexplained:
        print(f"survived, not explained in tests/MUTATION.md: {name}")
    for name in untested:
        print(f"no test in the module's list runs this function: {name}")
    for name in stale:
        print(f"named in tests/MUTATION.md but not a survivor of the last run: {name}")
    return 1 if unexplained or untested or stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
