"""The dependency direction: webapp -> annotator -> inference, never back; compute only in
inference/ (annotator/ reaches torch, torchvision, PyAV and Pillow only through it)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

WEB_STACK = ("django", "rest_framework", "celery", "kombu", "annotator", "webapp")
COMPUTE = ("torch", "torchvision", "av", "PIL")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of every import in the file: module level, inside functions and
    inside `if TYPE_CHECKING:` blocks alike."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, module in imported_modules(path)
        if module in forbidden
    ]


def test_importing_inference_loads_neither_django_nor_torch() -> None:
    code = (
        "import sys, inference, inference.ava, inference.evaluation, inference.boxes, "
        "inference.detections, inference.figures; "
        "web = ('django', 'torch', 'rest_framework', 'celery', 'annotator', 'webapp'); "
        "print([m for m in web if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_inference_sources_import_nothing_of_the_web_stack() -> None:
    assert offenders("inference", WEB_STACK) == []


def test_annotator_imports_no_compute_library_not_even_for_type_checking() -> None:
    assert offenders("annotator", COMPUTE) == []


def test_annotator_never_imports_the_project() -> None:
    assert offenders("annotator", ("webapp",)) == []


def test_the_import_scan_sees_imports_in_functions_and_type_checking_blocks(tmp_path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from PIL import Image\n"
        "def f():\n    import torch.nn\n    from . import sibling\n"
    )
    modules = [module for _, module in imported_modules(source)]
    assert modules == ["typing", "PIL", "torch"]
