"""requirements.txt is what the product runs, requirements-dev.txt adds tests and tools; the
install script's stamps keep a product install from passing for a dev one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT

TOOLS = {"pytest", "pytest-django", "pytest-timeout", "factory-boy", "playwright", "schemathesis"}
TOOLS |= {"pytorchvideo", "ruff", "mypy"}


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            name, version = line.split("==")
            found[name.split("[")[0].lower().replace("_", "-")] = version
    return found


def test_the_product_requirements_hold_no_tool_and_what_runs_the_product():
    product = pins(ROOT / "requirements.txt")
    assert not TOOLS & set(product)
    assert {"pyyaml", "psycopg", "django-filter", "celery", "av"} <= set(product)
    assert (product["torch"], product["torchvision"]) == ("2.14.1", "0.29.1")


def test_the_dev_requirements_include_the_product_first_and_pin_every_tool():
    lines = [
        line
        for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "-r requirements.txt"
    assert set(pins(ROOT / "requirements-dev.txt")) == TOOLS


def install(root: Path, *args: str) -> list[str]:
    log = root / "pip.log"
    log.write_text("")
    subprocess.run(["bash", "scripts/install", *args], cwd=root, check=True, timeout=60)
    return log.read_text().split()


def test_a_product_install_before_the_tests_still_installs_the_tools(tmp_path):
    for name in ("scripts/install", "requirements.txt", "requirements-dev.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    # A stand-in interpreter: what is checked is which file the script asks pip to install.
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(
        '#!/bin/sh\necho "$@" | sed "s/.* -r //" >> "$(dirname "$0")/../../pip.log"\n'
    )
    python.chmod(0o755)

    assert install(tmp_path) == ["requirements.txt"]  # ./scripts/run
    assert install(tmp_path, "dev") == ["requirements-dev.txt"]  # then ./scripts/test
    assert install(tmp_path, "dev") == []  # nothing changed
    assert install(tmp_path) == []  # the dev install brought the product's too
    with (tmp_path / "requirements-dev.txt").open("a") as handle:
        handle.write("extra-tool==1.0\n")
    assert install(tmp_path) == []
    assert install(tmp_path, "dev") == ["requirements-dev.txt"]
