"""Settings come from the environment and refuse malformed or unsafe values."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import ROOT
from webapp.settings import BASE_DIR, database_from_url


def test_sqlite_url_is_relative_to_the_project() -> None:
    assert database_from_url("sqlite:///db.sqlite3")["NAME"] == str(BASE_DIR / "db.sqlite3")
    assert database_from_url("sqlite:////tmp/x.db")["NAME"] == "/tmp/x.db"


def test_postgres_url_is_parsed() -> None:
    database = database_from_url(
        "postgres://ava:s%40cret@db.example:6543/annotations?sslmode=require"
    )
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (
        database["NAME"],
        database["USER"],
        database["PASSWORD"],
        database["HOST"],
        database["PORT"],
    ) == (
        "annotations",
        "ava",
        "s@cret",
        "db.example",
        "6543",
    )
    assert database["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://hostonly", "sqlite://"])
def test_malformed_database_urls_are_refused(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_from_url(url)


def run_django(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_works_with_no_environment() -> None:
    result = run_django({}, "check")
    assert result.returncode == 0, result.stderr


def test_production_refuses_the_development_defaults() -> None:
    result = run_django({"DJANGO_ENV": "production"}, "check")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_a_malformed_boolean_is_refused() -> None:
    result = run_django({"DJANGO_DEBUG": "maybe"}, "check")
    assert result.returncode != 0
    assert "DJANGO_DEBUG='maybe'" in result.stderr


def test_check_deploy_is_clean_with_production_settings() -> None:
    env = {
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": "p" * 20 + "r0dUct10n-k3y-th4t-is-l0ng-and-r4nd0m!x",
        "DJANGO_ALLOWED_HOSTS": "annotate.example.org",
    }
    result = run_django(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
