"""docker-compose.yml matches the settings: services, queues, beat, environment, volumes."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

APP_SERVICES = ("web", "worker", "worker-gpu")
SECRET = "compose-test-" + "k" * 50


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` with `env` as the shell's."""

    def replace(match: re.Match[str]) -> str:
        name, operator, rest = match.groups()
        if name in env:
            return env[name]
        assert operator != ":?", f"docker compose would refuse to start without {name}: {rest}"
        return rest or ""

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", replace, value).replace("$$", "$")


def settings_variables() -> set[str]:
    """The environment variables webapp/settings.py reads (env_* helpers and os.environ.get)."""
    tree = ast.parse((ROOT / "webapp" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        first, func = node.args[0], node.func
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        helper = isinstance(func, ast.Name) and func.id.startswith("env_")
        environ = isinstance(func, ast.Attribute) and ast.unparse(func) == "os.environ.get"
        if helper or environ:
            names.add(first.value)
    return names


def command(service: dict[str, Any]) -> list[str]:
    text = service["command"]
    return text.split() if isinstance(text, str) else list(text)


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def test_it_has_the_services_of_the_design_each_with_a_health_check() -> None:
    services = compose()["services"]
    assert set(services) == {"web", "worker", "worker-gpu", "redis", "postgres"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    web = command(services["web"])
    assert "gunicorn" in web and "webapp.wsgi" in web
    assert option(web, "--bind") == "0.0.0.0:8000" and services["web"]["ports"] == ["8000:8000"]


def test_the_workers_serve_exactly_the_queues_and_routes_of_the_celery_app() -> None:
    import annotator.tasks  # noqa: F401  (registers the tasks)
    from annotator.models import Job
    from annotator.services.jobs import JOB_TASKS
    from webapp.celery import app

    services = compose()["services"]
    served = {
        name: set(option(command(services[name]), "--queues").split(","))
        for name in ("worker", "worker-gpu")
    }
    assert served == {"worker": {"default"}, "worker-gpu": {"gpu"}}
    assert {queue.name for queue in app.conf.task_queues} == {"default", "gpu"}
    assert not app.conf.task_routes  # one place decides a job's queue: JOB_TASKS
    assert set(JOB_TASKS) == set(Job.Type.values)
    for job_type, (name, queue) in JOB_TASKS.items():
        gpu = job_type in (Job.Type.PREANNOTATE, Job.Type.TRAIN)
        assert (queue == "gpu") == gpu, job_type
        assert any(queue in queues for queues in served.values()), job_type
        if job_type != Job.Type.TRAIN:  # the training task comes with the training work
            assert app.tasks[name].name == name


def test_one_worker_runs_the_beat_schedule_of_the_settings() -> None:
    from django.conf import settings

    import annotator.tasks  # noqa: F401  (registers the tasks)
    from webapp.celery import app

    services = compose()["services"]
    beats = [name for name in APP_SERVICES if "--beat" in command(services[name])]
    assert beats == ["worker"]
    assert "replicas" not in services["worker"].get("deploy", {})  # one beat, not one per replica
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks


def test_the_gpu_worker_reserves_nvidia_devices() -> None:
    devices = compose()["services"]["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]


def test_app_services_share_one_environment_of_variables_the_settings_read() -> None:
    services = compose()["services"]
    environments = [services[name]["environment"] for name in APP_SERVICES]
    assert environments[0] == environments[1] == environments[2]
    unknown = set(environments[0]) - settings_variables()
    assert not unknown, f"docker-compose.yml sets variables settings.py never reads: {unknown}"
    for required in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT", "DJANGO_SECRET_KEY"):
        assert required in environments[0]
    for volume in ("media:/data/media",):
        assert all(volume in services[name]["volumes"] for name in APP_SERVICES)


def test_the_settings_load_from_the_compose_environment_and_point_at_its_services() -> None:
    services = compose()["services"]
    shell = {"DJANGO_SECRET_KEY": SECRET, "POSTGRES_PASSWORD": "pw-from-the-shell"}
    env = {
        name: interpolate(str(value), shell)
        for name, value in services["web"]["environment"].items()
    }
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'db': s.DATABASES['default'], 'redis': s.REDIS_URL, "
        "'broker': s.CELERY_BROKER_URL, 'media': str(s.MEDIA_ROOT), 'lease': s.JOB_LEASE_SECONDS, "
        "'heartbeat': s.JOB_HEARTBEAT_SECONDS, 'sweep': s.JOB_SWEEP_SECONDS, "
        "'visibility': s.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'], "
        "'soft': s.CELERY_TASK_SOFT_TIME_LIMIT, 'hard': s.CELERY_TASK_TIME_LIMIT, "
        "'detector': s.PERSON_DETECTOR_WEIGHTS, 'production': s.PRODUCTION}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "webapp.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])

    postgres = {
        key: interpolate(str(value), shell)
        for key, value in services["postgres"]["environment"].items()
    }
    db = loaded["db"]
    assert db["ENGINE"] == "django.db.backends.postgresql" and db["HOST"] in services
    assert (db["NAME"], db["USER"], db["PASSWORD"]) == (
        postgres["POSTGRES_DB"],
        postgres["POSTGRES_USER"],
        "pw-from-the-shell",
    )
    assert loaded["redis"] == loaded["broker"] == "redis://redis:6379/0" and "redis" in services
    assert loaded["production"] is True
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in services["web"]["volumes"]}
    assert loaded["media"] == mounts["media"]
    assert loaded["detector"].startswith(mounts["./weights"] + "/")
    expected = {
        "lease": "JOB_LEASE_SECONDS",
        "heartbeat": "JOB_HEARTBEAT_SECONDS",
        "sweep": "JOB_SWEEP_SECONDS",
        "visibility": "CELERY_VISIBILITY_TIMEOUT_SECONDS",
        "soft": "JOB_SOFT_TIME_LIMIT_SECONDS",
        "hard": "JOB_TIME_LIMIT_SECONDS",
    }
    assert {key: loaded[key] for key in expected} == {
        key: int(env[name]) for key, name in expected.items()
    }
    assert loaded["heartbeat"] < loaded["lease"] < loaded["hard"]
    assert loaded["soft"] < loaded["hard"]


def test_compose_refuses_to_start_without_a_secret_key() -> None:
    value = compose()["services"]["web"]["environment"]["DJANGO_SECRET_KEY"]
    with pytest.raises(AssertionError, match="without DJANGO_SECRET_KEY"):
        interpolate(value, {})
