"""Who may do what: anonymous, a user without a role, reviewer and manager, over every endpoint."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import get_resolver
from rest_framework.test import APIClient

from tests.factories import KeyframeFactory, VideoFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects(ava_dataset):  # type: ignore[no-untyped-def]
    from annotator.models import EvaluationReport, GoldAnswer, Job, ModelVersion

    video = VideoFactory(dataset=ava_dataset)
    keyframe = KeyframeFactory(video=video)
    job = Job.objects.create(job_type="import", status="succeeded")
    model_version = ModelVersion.objects.create(dataset=ava_dataset, name="m", status="external")
    report = EvaluationReport.objects.create(
        dataset=ava_dataset, model_version=model_version, box_source="detections", snapshot_hash="0"
    )
    gold = KeyframeFactory(video=video, gold=True)
    answerer = get_user_model().objects.create_user("answerer")
    answer = GoldAnswer.objects.create(keyframe=gold, reviewer=answerer)
    return {
        "answer": answer.pk,
        "answerer": answerer.pk,
        "dataset": ava_dataset.pk,
        "video": video.pk,
        "keyframe": keyframe.pk,
        "job": job.pk,
        "model_version": model_version.pk,
        "report": report.pk,
    }


# (method, path template, reviewer allowed?, manager allowed?); "allowed" = not 401/403.
MATRIX = [
    ("get", "/api/v1/datasets/", True, True),
    ("post", "/api/v1/datasets/", False, True),
    ("get", "/api/v1/datasets/{dataset}/", True, True),
    ("patch", "/api/v1/datasets/{dataset}/", False, True),
    ("delete", "/api/v1/datasets/{dataset}/", False, True),
    ("get", "/api/v1/datasets/{dataset}/labelmap/", True, True),
    ("post", "/api/v1/datasets/{dataset}/labelmap/", False, True),
    ("get", "/api/v1/datasets/{dataset}/export/", False, True),
    ("post", "/api/v1/datasets/{dataset}/imports/", False, True),
    ("post", "/api/v1/datasets/{dataset}/export-training/", False, True),
    ("post", "/api/v1/datasets/{dataset}/train/", False, True),
    ("get", "/api/v1/datasets/{dataset}/export-training/{job}/", False, True),
    ("get", "/api/v1/actions/", True, True),
    ("get", "/api/v1/videos/", True, True),
    ("post", "/api/v1/videos/", False, True),
    ("get", "/api/v1/videos/{video}/", True, True),
    ("delete", "/api/v1/videos/{video}/", False, True),
    ("post", "/api/v1/videos/{video}/preannotate/", False, True),
    ("get", "/api/v1/keyframes/", True, True),
    ("get", "/api/v1/keyframes/{keyframe}/", True, True),
    ("patch", "/api/v1/keyframes/{keyframe}/", False, True),
    ("put", "/api/v1/keyframes/{keyframe}/annotations/", True, True),
    ("get", "/api/v1/keyframes/{keyframe}/review/", True, True),
    ("put", "/api/v1/keyframes/{keyframe}/lease/", True, True),
    ("get", "/api/v1/assignments/", False, True),
    ("post", "/api/v1/assignments/", False, True),
    ("post", "/api/v1/gold/", False, True),
    ("get", "/api/v1/gold/answers/", False, True),
    ("post", "/api/v1/gold/answers/{answer}/approve/", False, True),
    ("get", "/api/v1/reviewers/figures/", False, True),
    ("get", "/api/v1/me/keys/", True, True),
    ("put", "/api/v1/me/keys/", True, True),
    ("delete", "/api/v1/me/keys/", True, True),
    ("delete", "/api/v1/keyframes/{keyframe}/lease/", True, True),
    ("post", "/api/v1/keyframes/{keyframe}/mark/", True, True),
    ("get", "/api/v1/review/queue/", True, True),
    ("post", "/api/v1/review/queue/", True, True),
    ("get", "/api/v1/jobs/", True, True),
    ("get", "/api/v1/jobs/{job}/", True, True),
    ("post", "/api/v1/jobs/{job}/cancel/", False, True),
    ("get", "/api/v1/model-versions/", True, True),
    ("get", "/api/v1/model-versions/{model_version}/", True, True),
    ("post", "/api/v1/model-versions/{model_version}/activate/", False, True),
    ("post", "/api/v1/model-versions/{model_version}/archive/", False, True),
    ("get", "/api/v1/evaluation-reports/", True, True),
    ("post", "/api/v1/datasets/{dataset}/evaluate/", False, True),
    ("get", "/api/v1/evaluation-reports/{report}/", True, True),
    ("get", "/api/v1/evaluation-reports/{report}/figure/", True, True),
    ("get", "/api/v1/evaluation-reports/{report}/figure.svg", True, True),
    ("get", "/api/v1/evaluation-reports/{report}/figure.png", True, True),
    ("get", "/api/v1/evaluation-reports/{report}/figure.csv", True, True),
    ("get", "/api/schema/", True, True),
    ("get", "/api/docs/", True, True),
    ("post", "/api/v1/auth/token/", True, True),
]


def call(client: APIClient, method: str, path: str) -> int:
    return getattr(client, method)(path, {}, format="json" if method != "get" else None).status_code


@pytest.mark.parametrize(("method", "template", "reviewer_ok", "manager_ok"), MATRIX)
def test_matrix(objects, reviewer, manager, method, template, reviewer_ok, manager_ok):  # type: ignore[no-untyped-def]
    path = template.format(**objects)
    anonymous = APIClient()
    roleless = APIClient()
    roleless.force_authenticate(
        get_user_model().objects.create_user("nobody", password="x-123456789")
    )
    as_reviewer = APIClient()
    as_reviewer.force_authenticate(reviewer)
    as_manager = APIClient()
    as_manager.force_authenticate(manager)

    if template == "/api/docs/":  # a page for people: anonymous visitors are sent to log in
        response = anonymous.get(path)
        assert (response.status_code, response["Location"]) == (302, f"/login/?next={path}")
    else:
        assert call(anonymous, method, path) in (401, 403)
    assert (
        call(roleless, method, path) == 403
        or template.startswith("/api/schema")
        or template.startswith("/api/docs")
    )
    assert (call(as_reviewer, method, path) not in (401, 403)) == reviewer_ok
    assert (call(as_manager, method, path) not in (401, 403)) == manager_ok


def test_the_matrix_covers_every_api_route() -> None:
    routes = {str(pattern.pattern) for pattern in get_resolver("annotator.api.urls").url_patterns}
    covered = {template.removeprefix("/api/v1/") for _, template, _, _ in MATRIX}
    normalised = {route.replace("<id:", "{").replace(">", "}") for route in routes}
    normalised = {
        r.replace("{dataset_id}", "{dataset}")
        .replace("{video_id}", "{video}")
        .replace("{keyframe_id}", "{keyframe}")
        .replace("{job_id}", "{job}")
        .replace("{model_version_id}", "{model_version}")
        .replace("{report_id}", "{report}")
        .replace("{answer_id}", "{answer}")
        for r in normalised
    }
    assert normalised - {"health/"} <= covered


# The browser pages, as MATRIX: (method, path template, reviewer allowed?, manager allowed?).
PAGES = [
    ("get", "/jobs/{job}/", True, True),
    ("get", "/review/", True, True),
    ("get", "/review/{keyframe}/", True, True),
    ("get", "/assignments/", False, True),
    ("post", "/assignments/", False, True),
    ("get", "/gold/", False, True),
    ("post", "/gold/answers/{answer}/approve/", False, True),
    ("get", "/reviewers/", False, True),
    ("get", "/reviewers/{answerer}/reviewed/", False, True),
    ("get", "/settings/keys/", True, True),
    ("get", "/evaluation/", True, True),
    ("get", "/models/", True, True),
    ("post", "/models/{model_version}/promote/", False, True),
    ("post", "/models/{model_version}/archive/", False, True),
    ("get", "/datasets/", True, True),
    ("get", "/datasets/{dataset}/", True, True),
    ("post", "/datasets/{dataset}/export-training/", False, True),
    ("get", "/datasets/{dataset}/train/", False, True),
    ("post", "/datasets/{dataset}/train/", False, True),
]


@pytest.mark.parametrize(("method", "template", "reviewer_ok", "manager_ok"), PAGES)
def test_pages(objects, reviewer, manager, method, template, reviewer_ok, manager_ok):  # type: ignore[no-untyped-def]
    from django.test import Client

    path = template.format(**objects)
    response = getattr(Client(), method)(path)
    assert (response.status_code, response["Location"]) == (302, f"/login/?next={path}")
    for user, allowed in (
        (get_user_model().objects.create_user("nobody"), False),
        (reviewer, reviewer_ok),
        (manager, manager_ok),
    ):
        browser = Client()
        browser.force_login(user)
        assert (getattr(browser, method)(path).status_code != 403) == allowed, user


def test_the_pages_cover_every_page_route() -> None:
    routes = {str(pattern.pattern) for pattern in get_resolver("annotator.urls").url_patterns}
    covered = {template.removeprefix("/") for _, template, _, _ in PAGES}
    normalised = {
        route.replace("<int:job_id>", "{job}")
        .replace("<int:keyframe_id>", "{keyframe}")
        .replace("<int:answer_id>", "{answer}")
        .replace("<int:reviewer_id>/<str:figure>", "{answerer}/reviewed")
        .replace("<int:model_version_id>", "{model_version}")
        .replace("<int:dataset_id>", "{dataset}")
        for route in routes
    }
    assert normalised - {"", "login/", "logout/"} <= covered


def test_health_and_login_are_the_only_anonymous_pages(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/login/").status_code == 200
    assert client.get("/").status_code == 302
    assert client.get("/admin/").status_code == 302
    assert client.get("/media/videos/x.mp4").status_code == 302


def test_a_session_login_with_csrf_reaches_the_api(reviewer) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/login/")
    token = page.cookies["csrftoken"].value
    response = browser.post(
        "/login/",
        {"username": "rob-reviewer", "password": "reviewer-pass-123", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert browser.get("/api/v1/datasets/").status_code == 200
    # Writes without the CSRF token are refused even with a valid session.
    assert (
        browser.put(
            "/api/v1/keyframes/1/annotations/", "{}", content_type="application/json"
        ).status_code
        == 403
    )


def test_a_manager_is_staff_with_only_the_annotator_permissions(manager, reviewer) -> None:  # type: ignore[no-untyped-def]
    assert manager.is_staff and not manager.is_superuser
    assert manager.has_perm("annotator.change_keyframe")
    assert not manager.has_perm("auth.change_user")
    assert not reviewer.is_staff
