"""The suite's own rules: one helper for a missing tool; CI told apart as the scripts do."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.tools import in_ci, missing, require_executable, require_path

ROOT = Path(__file__).resolve().parents[1]
CI_VALUES = ["", "0", "false", "False", "FALSE", "no", "1", "true", "TRUE", "yes", "No", "x"]


def shell_is_ci(value: str | None) -> bool:
    env = {"PATH": "/usr/bin:/bin"} | ({} if value is None else {"CI": value})
    proc = subprocess.run(
        ["bash", "-c", "source scripts/lib.sh && is_ci"], cwd=ROOT, env=env, timeout=10
    )
    assert proc.returncode in (0, 1)
    return proc.returncode == 0


@pytest.mark.parametrize("value", [None, *CI_VALUES])
def test_ci_is_detected_as_scripts_lib_sh_detects_it(value: str | None) -> None:
    assert in_ci({} if value is None else {"CI": value}) == shell_is_ci(value)


def test_a_missing_tool_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        missing("a tool")
    with pytest.raises(pytest.fail.Exception, match="no-such-tool-4f2a"):
        require_executable("no-such-tool-4f2a")
    with pytest.raises(pytest.fail.Exception, match="the thing"):
        require_path(ROOT / "no-such-dir-4f2a", "the thing")
    for value in ("false", "0", ""):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.skip.Exception, match="a tool is missing"):
            missing("a tool")
    assert require_executable("bash").endswith("bash")
    assert require_executable("bash-nope-4f2a", also=("/bin/sh",)) == "/bin/sh"
    assert require_path(ROOT / "scripts", "scripts") == ROOT / "scripts"


SKIPS = re.compile(r"pytest\.skip\(|\.skipif\b|mark\.skip\b|importorskip\(")


def test_no_test_skips_a_required_tool_on_its_own() -> None:
    """Every skip goes through tests/tools.py, so that CI fails instead of skipping."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.name not in ("tools.py", "test_tools.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SKIPS.search(line)
    ]
    assert offenders == []
