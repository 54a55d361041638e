"""GET /api/v1/health/ pings the database, Redis and the workers for real."""

from __future__ import annotations

import pytest

from tests.conftest import free_port


@pytest.mark.integration
def test_healthy_with_redis_and_a_worker(celery_worker, anonymous_client) -> None:  # type: ignore[no-untyped-def]
    response = anonymous_client.get("/api/v1/health/")

    assert response.status_code == 200, response.json()
    assert response.json() == {"database": "ok", "redis": "ok", "worker": "ok"}


@pytest.mark.django_db
def test_no_worker_is_reported(use_redis, anonymous_client) -> None:  # type: ignore[no-untyped-def]
    response = anonymous_client.get("/api/v1/health/")

    assert response.status_code == 503
    assert response.json()["redis"] == "ok"
    assert response.json()["worker"].startswith("error")


@pytest.mark.django_db
def test_redis_down_is_reported(settings, anonymous_client) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    response = anonymous_client.get("/api/v1/health/")

    assert response.status_code == 503
    assert response.json()["database"] == "ok"
    assert response.json()["redis"].startswith("error")
