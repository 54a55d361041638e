"""The dependency direction: webapp -> annotator -> inference, never back."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT


def test_importing_inference_loads_neither_django_nor_torch() -> None:
    code = (
        "import sys, inference, inference.ava, inference.evaluation; "
        "web = ('django', 'torch', 'rest_framework', 'celery', 'annotator', 'webapp'); "
        "print([m for m in web if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_inference_sources_import_nothing_of_the_web_stack() -> None:
    pattern = re.compile(
        r"^\s*(from|import)\s+(django|rest_framework|celery|annotator|webapp)\b", re.MULTILINE
    )
    offenders = [
        str(path) for path in (ROOT / "inference").rglob("*.py") if pattern.search(path.read_text())
    ]
    assert offenders == []
