"""`make fuzz` works as the README shows it (a few seconds: the campaign itself is not part of `make test`), and
`make checkov` too."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.conftest import ROOT


def test_make_fuzz_as_written_runs_the_target_and_reports(tmp_path: Path) -> None:
    env = {**os.environ, "FUZZ_WORKDIR": str(tmp_path)}  # its own corpus and findings, not the campaign's
    result = subprocess.run(
        "make fuzz SECONDS=10 FORMAT=bmp", shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"bmp: (\d+) executions, coverage (\d+) edges .* findings 0", result.stdout)
    assert match and int(match[1]) > 0 and int(match[2]) > 0, result.stdout
    assert any((tmp_path / "corpus" / "bmp").iterdir())  # seeded


def test_make_checkov_as_written() -> None:
    result = subprocess.run("make checkov", shell=True, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Failed checks: 0, Skipped checks: \d+", result.stdout), result.stdout
