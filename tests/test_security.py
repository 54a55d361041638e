"""Replays issue 14's attacks (and the cases that held) so that none regresses.

The run command's own settings are exercised by starting `scripts/run --web-only` on a free port;
everything else goes through Django's test client, the services and the management commands.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import av
import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpRequest
from django.test import Client
from django.urls import path

from annotator.errors import ApplicationError
from annotator.models import AuditEvent, Dataset, Job, Keyframe, ModelVersion, Video
from annotator.services.imports import ava_import
from annotator.services.ingest import video_ingest
from tests.conftest import ROOT, free_port
from tests.factories import KeyframeFactory
from tests.generated import write_index_video
from tests.test_settings import run_django

# --- a URL conf with a view that fails, for the 500 page -------------------------------------


def _boom(request: HttpRequest) -> None:
    raise RuntimeError("secret internals: DATABASES REDIS_URL")


def _urlpatterns() -> list:
    from webapp.urls import urlpatterns as product

    return [path("boom/", _boom), *product]


urlpatterns = _urlpatterns()
handler404 = "annotator.api.errors.not_found"
handler500 = "annotator.api.errors.server_error"

DEBUG_MARKERS = ("DATABASES", "REDIS_URL", "BASE_DIR", "Traceback", "URLconf", "MIDDLEWARE")


# --- 1. the run command: no debug pages, own error pages, static files -----------------------


def _get(url: str, host: str | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture(scope="module")
def run_command_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`scripts/run --web-only --bind 127.0.0.1:PORT` with its own SQLite database."""
    port = free_port()
    database = tmp_path_factory.mktemp("run") / "run.sqlite3"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "PYTEST", "CELERY_"))
    }
    env["DATABASE_URL"] = f"sqlite:///{database}"
    process = subprocess.Popen(
        ["scripts/run", "--web-only", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(f"{url}/login/", timeout=2).close()
            break
        except OSError:  # not listening yet, or still starting
            time.sleep(0.5)
    else:
        output = process.stdout.read().decode() if process.poll() is not None else ""
        os.killpg(process.pid, signal.SIGTERM)
        pytest.fail(f"scripts/run did not answer: {output}")
    yield url
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


@pytest.mark.integration
def test_it_answers_a_foreign_host_with_its_own_400_page(run_command_server) -> None:  # type: ignore[no-untyped-def]
    status, headers, body = _get(f"{run_command_server}/login/", host="evil.example")

    assert status == 400
    assert "Bad request" in body and "AVA annotator" in body
    assert not [marker for marker in DEBUG_MARKERS if marker in body]
    assert "Content-Security-Policy" in headers


@pytest.mark.integration
def test_it_answers_an_unknown_url_with_its_own_404_page(run_command_server) -> None:  # type: ignore[no-untyped-def]
    status, _, body = _get(f"{run_command_server}/no-such-page/")

    assert status == 404
    assert "Page not found" in body
    assert not [marker for marker in DEBUG_MARKERS if marker in body]
    assert "admin/" not in body and "api/v1/" not in body


@pytest.mark.integration
def test_it_serves_static_files_and_keeps_its_secret_key_in_var(run_command_server) -> None:  # type: ignore[no-untyped-def]
    status, headers, body = _get(f"{run_command_server}/static/css/app.css")
    key = (ROOT / "var" / "secret_key").read_text().strip()

    assert status == 200 and "text/css" in headers["Content-Type"] and body
    assert len(key) >= 50 and "django-insecure" not in key
    assert (ROOT / "var" / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.integration
def test_it_refuses_a_malformed_bind() -> None:
    result = subprocess.run(
        ["scripts/run", "--bind", "nonsense"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 2
    assert "expected HOST:PORT" in result.stderr


@pytest.mark.integration
def test_runserver_serves_static_files_and_the_products_pages_with_debug_off(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "PYTEST"))
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'runserver.sqlite3'}"
    process = subprocess.Popen(
        [".venv/bin/python", "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/static/css/app.css", timeout=2).close()
                break
            except OSError:  # not listening yet
                time.sleep(0.5)
        static = _get(f"{url}/static/css/app.css")
        missing = _get(f"{url}/no-such-page/")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)

    assert static[0] == 200 and ":root" in static[2]
    assert missing[0] == 404 and "Page not found" in missing[2]
    assert not [marker for marker in DEBUG_MARKERS if marker in missing[2]]


def test_debug_is_off_unless_asked_for() -> None:
    show = "from django.conf import settings; print(settings.DEBUG)"

    assert run_django({}, "shell", "-c", show).stdout.split()[-1] == "False"
    assert run_django({"DJANGO_DEBUG": "1"}, "shell", "-c", show).stdout.split()[-1] == "True"


# --- the product's error pages for anonymous and logged-in users -------------------------------


@pytest.mark.django_db
@pytest.mark.urls("tests.test_security")
@pytest.mark.parametrize("logged_in", [False, True], ids=["anonymous", "logged-in"])
def test_error_pages_are_the_products_own(logged_in: bool, manager) -> None:  # type: ignore[no-untyped-def]
    client = Client(raise_request_exception=False)
    if logged_in:
        client.force_login(manager)

    missing = client.get("/no-such-page/")
    failed = client.get("/boom/")
    foreign = client.get("/login/", headers={"host": "evil.example"})

    assert (missing.status_code, failed.status_code, foreign.status_code) == (404, 500, 400)
    for response, title in ((missing, "Page not found"), (failed, "Server error")):
        body = response.content.decode()
        assert title in body and "AVA annotator" in body
        assert not [marker for marker in DEBUG_MARKERS if marker in body]
    assert "Bad request" in foreign.content.decode()


# --- 2. NUL and control characters are refused at the boundary ---------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["a\x00b", "a\x1bb", "a\x7fb"], ids=["nul", "escape", "delete"])
def test_a_label_map_with_a_control_character_is_a_400_naming_the_field(
    manager_client, name: str
) -> None:  # type: ignore[no-untyped-def]
    dataset = Dataset.objects.create(name="custom")
    pbtxt = 'label {\n  name: "ok"\n  label_id: 1\n}\n'
    pbtxt += f'label {{\n  name: "{name}"\n  label_id: 2\n}}\n'

    response = manager_client.post(
        f"/api/v1/datasets/{dataset.pk}/labelmap/",
        {"file": SimpleUploadedFile("my-labels.pbtxt", pbtxt.encode())},
        format="multipart",
    )

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("my-labels.pbtxt:6: field 'name'"), detail
    assert "control characters" in detail
    assert not dataset.actions.exists()


@pytest.mark.django_db
def test_a_label_map_that_is_not_utf8_names_the_uploaded_file_and_line(manager_client) -> None:  # type: ignore[no-untyped-def]
    dataset = Dataset.objects.create(name="custom")
    pbtxt = (
        b'label {\n  name: "ok"\n  label_id: 1\n}\nlabel {\n  name: "b\xffad"\n  label_id: 2\n}\n'
    )

    response = manager_client.post(
        f"/api/v1/datasets/{dataset.pk}/labelmap/",
        {"file": SimpleUploadedFile("latin1.pbtxt", pbtxt)},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json()["detail"] == "latin1.pbtxt:6: not UTF-8 text (byte 0xff)"


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["name", "description"])
def test_dataset_names_and_descriptions_refuse_control_characters(manager_client, field) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "fine", "description": "fine"} | {field: "bad\x01value"}

    response = manager_client.post("/api/v1/datasets/", body, format="json")

    assert response.status_code == 400
    assert field in str(response.json())
    assert not Dataset.objects.exists()


# --- 3. the admin writes through the services ---------------------------------------------------


@pytest.fixture
def superuser_client(db) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="root-pass-123"))
    return client


@pytest.mark.django_db
def test_an_admin_status_change_bumps_the_version_so_a_stale_put_is_a_409(
    superuser_client, reviewer_client
) -> None:  # type: ignore[no-untyped-def]
    keyframe = KeyframeFactory()
    stale = keyframe.version

    edit = superuser_client.post(
        f"/admin/annotator/keyframe/{keyframe.pk}/change/",
        {"status": "flagged", "version": stale, "lease_until": ""},
    )
    action = superuser_client.post(
        "/admin/annotator/keyframe/",
        {"action": "mark_flagged", "_selected_action": [keyframe.pk]},
    )
    put = reviewer_client.put(
        f"/api/v1/keyframes/{keyframe.pk}/annotations/",
        {"version": stale, "status": "reviewed", "boxes": []},
        format="json",
    )

    assert edit.status_code == 403  # the form is read-only: no field bypasses the services
    assert action.status_code == 302
    keyframe.refresh_from_db()
    assert (keyframe.status, keyframe.version) == ("flagged", stale + 1)
    event = AuditEvent.objects.get(verb="keyframe.status", keyframe=keyframe)
    assert (event.before["status"], event.after["status"]) == ("unreviewed", "flagged")
    assert put.status_code == 409
    keyframe.refresh_from_db()
    assert keyframe.status == "flagged"


@pytest.mark.django_db
def test_boxes_and_labels_are_read_only_in_the_admin(superuser_client) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import BoxLabelFactory

    label = BoxLabelFactory()
    box = label.box

    responses = [
        superuser_client.post(f"/admin/annotator/personbox/{box.pk}/change/", {"x1": "0.0"}),
        superuser_client.post(f"/admin/annotator/personbox/{box.pk}/delete/", {"post": "yes"}),
        superuser_client.post(f"/admin/annotator/boxlabel/{label.pk}/delete/", {"post": "yes"}),
        superuser_client.get("/admin/annotator/personbox/add/"),
    ]

    assert [response.status_code for response in responses] == [403, 403, 403, 403]
    box.refresh_from_db()
    assert box.labels.filter(pk=label.pk).exists()


@pytest.mark.django_db
def test_a_video_added_in_the_admin_is_queued_for_ingest(
    superuser_client, ava_dataset, media_root, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    clip = write_index_video(tmp_path / "clip.mp4", 30, 60)

    form = superuser_client.get("/admin/annotator/video/add/").content.decode()
    with clip.open("rb") as handle:
        response = superuser_client.post(
            "/admin/annotator/video/add/",
            {"dataset": ava_dataset.pk, "video_id": "clip", "file": handle, "time_offset": "0"},
        )
    bad = superuser_client.post(
        "/admin/annotator/video/add/",
        {
            "dataset": ava_dataset.pk,
            "video_id": "<img src=x>",
            "file": SimpleUploadedFile("x.mp4", b"not a video"),
            "time_offset": "0",
        },
    )

    assert 'name="fps"' not in form and 'name="status"' not in form
    assert response.status_code == 302
    video = Video.objects.get(video_id="clip")
    assert Job.objects.filter(video=video, job_type="ingest", status="queued").count() == 1
    assert bad.status_code == 200  # the form again, with its errors
    assert "must match" in bad.content.decode()
    assert not Video.objects.filter(video_id="<img src=x>").exists()
    change = superuser_client.post(
        f"/admin/annotator/video/{video.pk}/change/", {"status": "ready", "fps": "99"}
    )
    assert change.status_code == 403
    video.refresh_from_db()
    assert (video.status, video.fps) == ("uploaded", None)


@pytest.mark.django_db
def test_the_active_model_version_changes_only_through_the_audited_promotion(
    superuser_client, ava_dataset
) -> None:  # type: ignore[no-untyped-def]
    with_checkpoint = ModelVersion.objects.create(
        dataset=ava_dataset, name="trained", checkpoint="checkpoints/trained.pt"
    )
    external = ModelVersion.objects.create(dataset=ava_dataset, name="ext", status="external")

    superuser_client.post(
        f"/admin/annotator/dataset/{ava_dataset.pk}/change/",
        {
            "name": ava_dataset.name,
            "description": "",
            "review_rules": "{}",
            "active_model_version": external.pk,
        },
    )
    ava_dataset.refresh_from_db()
    assert ava_dataset.active_model_version is None
    superuser_client.post(
        "/admin/annotator/modelversion/",
        {"action": "activate", "_selected_action": [with_checkpoint.pk, external.pk]},
    )

    ava_dataset.refresh_from_db()
    assert ava_dataset.active_model_version == with_checkpoint
    event = AuditEvent.objects.get(verb="dataset.activate_model")
    assert event.after == {"active_model_version": with_checkpoint.pk}
    assert event.user.username == "root"


# --- 4. formula-safe CSV for people, exact AVA CSV ---------------------------------------------


@pytest.mark.django_db
def test_the_figure_csv_neutralises_formulas(reviewer_client) -> None:  # type: ignore[no-untyped-def]
    from annotator.models import Action
    from tests.annotator.report_pairs import report_pair

    baseline, report = report_pair()
    names = {1: '=HYPERLINK("http://x","y")', 2: "+1", 3: "-1", 4: "@SUM(A1)", 5: "\tx"}
    for action_id, name in names.items():
        Action.objects.filter(dataset=report.dataset, action_id=action_id).update(name=name)

    response = reviewer_client.get(
        f"/api/v1/evaluation-reports/{report.pk}/figure.csv", {"baseline": baseline.pk}
    )

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    shown = {int(row["action_id"]): row["name"] for row in rows}
    assert {action_id: shown[action_id] for action_id in names} == {
        action_id: "'" + name for action_id, name in names.items()
    }
    assert shown[6] == "hand wave"  # other names are left as they are
    assert any(row["gain"].startswith("-") for row in rows)  # numbers too


@pytest.mark.django_db
def test_the_ava_export_keeps_its_exact_format(manager_client, ava_dataset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gt = tmp_path / "gt.csv"
    gt.write_text("-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,80,1\n")
    ava_import(dataset=ava_dataset, path=gt, kind="gt", create_videos=True)

    response = manager_client.get(f"/api/v1/datasets/{ava_dataset.pk}/export/")

    assert b"".join(response.streaming_content).decode() == gt.read_text()


# --- 5. login throttling and the Content-Security-Policy ----------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_ten_failed_logins_lock_out_that_user_from_that_address(url: str, manager) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    answers = [
        client.post(url, {"username": "mia-manager", "password": f"wrong-{n}"}).status_code
        for n in range(10)
    ]
    locked = client.post(url, {"username": "mia-manager", "password": "manager-pass-123"})
    elsewhere = Client(REMOTE_ADDR="10.9.8.7").post(
        url, {"username": "mia-manager", "password": "manager-pass-123"}
    )

    assert set(answers[:9]) == {200}  # the form again, saying the password was wrong
    assert locked.status_code == 429
    assert "too many failed logins, try again later" in locked.content.decode().lower()
    assert "_auth_user_id" not in client.session
    assert elsewhere.status_code == 302  # another address is not locked out


def test_the_lockout_lasts_15_minutes_per_user_name_and_address(settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.AXES_FAILURE_LIMIT == 10
    assert settings.AXES_COOLOFF_TIME * 60 == 15
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/", "/login/", "/admin/", "/admin/login/", "/api/docs/", "/no-such-page/"]
)
def test_every_page_has_a_content_security_policy_without_unsafe_inline(url, manager) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(manager)

    response = client.get(url)

    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


# --- 6. every bad byte or number is a file:line: field message; counts say rows -----------------


BAD_ROWS = [
    (
        "vid1,99999999999999999999,0.1,0.1,0.5,0.5,12,1",
        "field 'timestamp' = '99999999999999999999': out of range",
    ),
    (
        "vid1,9999999999,0.1,0.1,0.5,0.5,12,1",
        "field 'timestamp' = '9999999999': must be <= 2147483647",
    ),
    ("vi\udcffd1,902,0.1,0.1,0.5,0.5,12,1", "field 'video_id' = 'vi\\xffd1': not UTF-8 text"),
    ("vid1,902,0.1,0.1,0.5,0.5,12,\udcfe", "field 'person_id' = '\\xfe': not UTF-8 text"),
]


def _bad_file(directory: Path, row: str) -> Path:
    path = directory / "upload-1234.tmp"
    good = "vid1,0903,0.1,0.1,0.5,0.5,12,1\n"
    path.write_bytes((good + row + "\n").encode("utf-8", "surrogateescape"))
    return path


@pytest.mark.django_db
@pytest.mark.parametrize(("row", "reason"), BAD_ROWS, ids=["overflow", "int32", "byte", "byte8"])
def test_a_bad_byte_or_number_names_file_line_field_and_value(
    ava_dataset, tmp_path, row: str, reason: str
) -> None:  # type: ignore[no-untyped-def]
    path = _bad_file(tmp_path, row)

    with pytest.raises(ApplicationError) as raised:
        ava_import(
            dataset=ava_dataset, path=path, kind="gt", create_videos=True, display_name="mine.csv"
        )
    with pytest.raises(CommandError) as command:
        call_command(
            "import_ava", str(path), dataset=ava_dataset.name, kind="gt", create_videos=True
        )

    assert f"mine.csv:2: {reason}" in raised.value.message, raised.value.message
    assert str(path) not in raised.value.message
    assert raised.value.message.startswith("1 bad row(s) in mine.csv")
    assert f"{path}:2: {reason}" in str(command.value)
    assert not Video.objects.exists()


@pytest.mark.django_db
def test_the_count_says_rows_not_errors(ava_dataset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.csv"
    path.write_text("".join(f"vid1,{900 + n},1.5,0.1,-0.5,0.5,999,1\n" for n in range(200)))

    with pytest.raises(ApplicationError) as raised:
        ava_import(dataset=ava_dataset, path=path, kind="gt", create_videos=True)

    assert raised.value.message.startswith(f"200 bad row(s) in {path}")


@pytest.mark.integration
def test_a_rest_import_with_a_bad_byte_fails_naming_the_uploaded_file(
    transactional_db, use_redis, media_root, manager, ava_dataset
) -> None:  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    from annotator.tasks import import_ava_task

    client = APIClient()
    client.force_authenticate(manager)
    content = b"vid1,0902,0.1,0.1,0.5,0.5,12,1\nvid\xff1,0903,0.1,0.1,0.5,0.5,12,1\n"

    response = client.post(
        f"/api/v1/datasets/{ava_dataset.pk}/imports/",
        {"file": SimpleUploadedFile("labels.csv", content), "kind": "gt", "create_videos": True},
        format="multipart",
    )
    import_ava_task(response.json()["id"])

    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "failed"
    assert "labels.csv:2: field 'video_id' = 'vid\\xff1': not UTF-8 text" in job.message
    assert job.message.startswith("1 bad row(s) in labels.csv")


# --- 7. one video-id rule for uploads and imports ------------------------------------------------


@pytest.mark.django_db
def test_an_import_never_creates_a_video_the_upload_would_refuse(ava_dataset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "gt.csv"
    path.write_text(
        "ok_id,0902,0.1,0.1,0.5,0.5,12,1\n"
        "<img src=x onerror=alert('vid')>,0902,0.1,0.1,0.5,0.5,12,1\n"
    )

    with pytest.raises(ApplicationError) as raised:
        ava_import(dataset=ava_dataset, path=path, kind="gt", create_videos=True)

    assert f"{path}:2: field 'video_id' = \"<img src=x onerror=alert('vid')>\": must match" in (
        raised.value.message
    )
    assert not Video.objects.exists()


@pytest.mark.django_db
def test_import_video_refuses_a_file_whose_name_is_no_video_id(ava_dataset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write_index_video(tmp_path / "bad name!.mp4", 30, 30)

    with pytest.raises(CommandError, match="field 'video_id' = 'bad name!': must match"):
        call_command("import_video", str(path), dataset=ava_dataset.name)
    assert not Video.objects.exists()


# --- 8. no internals in messages ----------------------------------------------------------------


@pytest.mark.django_db
def test_an_upload_error_names_the_uploaded_file_not_a_server_path(
    manager_client, ava_dataset, media_root, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # the upload goes to a temporary file

    response = manager_client.post(
        "/api/v1/videos/",
        {
            "dataset": ava_dataset.pk,
            "video_id": "junk",
            "file": SimpleUploadedFile("holiday.mp4", b"\x00junk" * 1000),
        },
        format="multipart",
    )

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("holiday.mp4: not a readable video container")
    assert "/tmp" not in detail and ".upload" not in detail


@pytest.mark.django_db
def test_the_anonymous_health_check_shows_no_hosts_or_ports(
    settings, anonymous_client, manager_client
) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"

    anonymous = anonymous_client.get("/api/v1/health/")
    logged_in = manager_client.get("/api/v1/health/")

    assert anonymous.status_code == 503
    assert anonymous.json() == {"database": "ok", "redis": "error", "worker": "error"}
    assert str(port) in logged_in.json()["redis"]  # a logged-in user is told why


# --- 9. an ingest without keyframes fails; reviewed_by is always set ----------------------------


@pytest.mark.django_db
def test_a_truncated_avi_fails_its_ingest_saying_why(ava_dataset, media_root, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from django.core.files import File

    whole = tmp_path / "whole.avi"
    with av.open(str(whole), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        noise = np.random.default_rng(0)
        for _ in range(150):  # 5 s of noise, so that the frames outweigh the header
            pixels = noise.integers(0, 256, (240, 320, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    truncated = tmp_path / "truncated.avi"
    data = whole.read_bytes()
    truncated.write_bytes(data[: int(len(data) * 0.3)])
    video = Video(dataset=ava_dataset, video_id="truncated")
    with truncated.open("rb") as handle:
        video.file.save(truncated.name, File(handle), save=True)

    with pytest.raises(ApplicationError, match="no keyframe"):
        video_ingest(video_id=video.pk)

    video.refresh_from_db()
    assert video.status == Video.Status.FAILED
    assert "no keyframe" in video.status_message and "truncated" in video.status_message
    assert not video.keyframes.exists()


@pytest.mark.django_db
def test_marking_an_imported_reviewed_keyframe_reviewed_names_the_reviewer(
    reviewer_client, reviewer
) -> None:  # type: ignore[no-untyped-def]
    keyframe = KeyframeFactory(
        status=Keyframe.Status.REVIEWED
    )  # as a ground-truth import leaves it
    assert keyframe.reviewed_by is None

    response = reviewer_client.put(
        f"/api/v1/keyframes/{keyframe.pk}/annotations/",
        {"version": keyframe.version, "status": "reviewed", "boxes": []},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["reviewed_by"] == reviewer.pk
    keyframe.refresh_from_db()
    assert keyframe.reviewed_by == reviewer and keyframe.reviewed_at is not None


# --- 10. for API users: the ingest job, a token, the docs ---------------------------------------


@pytest.mark.django_db
def test_the_upload_answer_includes_its_ingest_job(
    manager_client, ava_dataset, media_root, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    clip = write_index_video(tmp_path / "clip.mp4", 30, 60)

    response = manager_client.post(
        "/api/v1/videos/",
        {"dataset": ava_dataset.pk, "video_id": "clip", "file": clip.open("rb")},
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    job = Job.objects.get(video_id=response.json()["id"])
    assert response.json()["ingest_job"]["id"] == job.pk
    assert response.json()["ingest_job"]["job_type"] == "ingest"


@pytest.mark.django_db
def test_a_logged_in_user_gets_a_token_that_authenticates_api_calls(reviewer) -> None:  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    session = APIClient()
    session.force_login(reviewer)
    anonymous = APIClient().post("/api/v1/auth/token/")

    first = session.post("/api/v1/auth/token/")
    again = session.post("/api/v1/auth/token/")
    with_token = APIClient(headers={"Authorization": f"Token {first.json()['token']}"})

    assert anonymous.status_code in (401, 403)
    assert first.status_code == 200 and first.json() == again.json()
    assert with_token.get("/api/v1/keyframes/").status_code == 200


@pytest.mark.django_db
def test_the_token_endpoint_is_in_the_schema(reviewer_client) -> None:  # type: ignore[no-untyped-def]
    schema = reviewer_client.get("/api/schema/", {"format": "json"}).json()

    assert "post" in schema["paths"]["/api/v1/auth/token/"]
    assert "ingest_job" in schema["components"]["schemas"]["VideoCreated"]["properties"]


@pytest.mark.django_db
def test_anonymous_api_docs_redirect_to_login() -> None:
    response = Client().get("/api/docs/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/api/docs/"


# --- cases that held: keep them holding ---------------------------------------------------------


@pytest.mark.django_db
def test_csrf_is_enforced_on_the_login_form() -> None:
    client = Client(enforce_csrf_checks=True)

    response = client.post("/login/", {"username": "x", "password": "y"})

    assert response.status_code == 403
    assert "AVA annotator" in response.content.decode()


@pytest.mark.django_db
def test_media_is_for_logged_in_users_and_stays_in_its_folder(reviewer, tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = str(tmp_path / "media")  # the media view reads it on every request
    root = Path(settings.MEDIA_ROOT)
    (root / "derived").mkdir(parents=True, exist_ok=True)
    probe = root / "derived" / f"security-probe-{tmp_path.name}.txt"
    probe.write_text("x")
    client = Client()

    anonymous = client.get(f"/media/derived/{probe.name}")
    client.force_login(reviewer)
    inside = client.get(f"/media/derived/{probe.name}")
    probe.unlink()
    outside = client.get("/media/../../etc/passwd")
    encoded = client.get("/media/derived/..%2f..%2f..%2fetc%2fpasswd")

    assert anonymous.status_code == 302
    assert inside.status_code == 200
    assert outside.status_code in (400, 404) and encoded.status_code in (400, 404)
    assert b"root:" not in outside.content + encoded.content
