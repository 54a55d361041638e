"""mypy over annotator/ and inference/ (the files pyproject.toml names) is part of the suite."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_mypy_finds_no_errors(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # every module of both packages was checked, not a subset
    sources = sum(
        1 for package in ("annotator", "inference") for _ in (ROOT / package).rglob("*.py")
    )
    assert f"no issues found in {sources} source files" in result.stdout
