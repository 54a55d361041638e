"""List endpoints: pagination, filters, and a constant number of queries whatever the page holds."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotator.models import Job
from tests.factories import KeyframeFactory, PersonBoxFactory, VideoFactory

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/v1/datasets/",
    "/api/v1/actions/",
    "/api/v1/videos/",
    "/api/v1/keyframes/",
    "/api/v1/jobs/",
    "/api/v1/model-versions/",
    "/api/v1/evaluation-reports/",
]


def fill(dataset, count: int) -> None:  # type: ignore[no-untyped-def]
    from annotator.models import EvaluationReport, ModelVersion

    for index in range(count):
        video = VideoFactory(dataset=dataset)
        keyframe = KeyframeFactory(video=video)
        PersonBoxFactory(keyframe=keyframe)
        Job.objects.create(job_type="ingest", video=video, dataset=dataset)
        version = ModelVersion.objects.create(dataset=dataset, name=f"m{index}-{video.pk}")
        EvaluationReport.objects.create(
            dataset=dataset, model_version=version, box_source="gt", snapshot_hash="x"
        )


def queries(client, path: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("path", LISTS)
def test_query_count_does_not_grow_with_the_page(reviewer_client, ava_dataset, path):  # type: ignore[no-untyped-def]
    fill(ava_dataset, 2)
    few = queries(reviewer_client, path)
    fill(ava_dataset, 8)
    many = queries(reviewer_client, path)

    assert many == few


def test_keyframes_filter_by_video_status_and_assignee(reviewer_client, reviewer, ava_dataset):  # type: ignore[no-untyped-def]
    video = VideoFactory(dataset=ava_dataset)
    mine = KeyframeFactory(video=video, assignee=reviewer, status="in_progress")
    KeyframeFactory(video=video, status="reviewed")
    KeyframeFactory(video=VideoFactory(dataset=ava_dataset))

    by_video = reviewer_client.get(f"/api/v1/keyframes/?video={video.pk}").json()
    assert by_video["count"] == 2
    by_assignee = reviewer_client.get(
        f"/api/v1/keyframes/?assignee={reviewer.pk}&status=in_progress"
    ).json()
    assert [row["id"] for row in by_assignee["results"]] == [mine.pk]
    unassigned = reviewer_client.get("/api/v1/keyframes/?assignee=none&ordering=-timestamp").json()
    timestamps = [row["timestamp"] for row in unassigned["results"]]
    assert len(timestamps) == 2 and timestamps == sorted(timestamps, reverse=True)


def test_bad_filters_are_400_not_500(reviewer_client):  # type: ignore[no-untyped-def]
    assert reviewer_client.get("/api/v1/keyframes/?video=abc").status_code == 400
    assert reviewer_client.get("/api/v1/keyframes/?status=nope").status_code == 400
    assert reviewer_client.get("/api/v1/keyframes/?ordering=password").status_code == 400


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/api/v1/videos/?status=", "status"),
        ("/api/v1/jobs/?status=", "status"),
        ("/api/v1/jobs/?job_type=", "job_type"),
        ("/api/v1/keyframes/?status=", "status"),
    ],
)
def test_a_filter_outside_its_choices_is_a_400_naming_it(reviewer_client, url, name):  # type: ignore[no-untyped-def]
    # A NUL byte too: PostgreSQL refuses it in text, so it must never reach a query.
    for value in ("nope", "ready%00x"):
        response = reviewer_client.get(url + value)
        assert response.status_code == 400
        assert list(response.json()) == [name] and "is not one of" in response.json()[name]


def test_pages_hold_page_size_rows(reviewer_client, ava_dataset):  # type: ignore[no-untyped-def]
    video = VideoFactory(dataset=ava_dataset)
    for _ in range(7):
        KeyframeFactory(video=video)

    first = reviewer_client.get("/api/v1/keyframes/?page_size=5").json()

    assert first["count"] == 7 and len(first["results"]) == 5 and first["next"]


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/keyframes/?video=abc", {"video": "'abc' is not an integer"}),
        (
            "/api/v1/jobs/?dataset=99999999999999999999",
            {"dataset": "'99999999999999999999' is out of range"},
        ),
        ("/api/v1/keyframes/?assignee=me", {"assignee": "'me' is not an integer"}),
        (
            "/api/v1/evaluation-reports/1/figure/?baseline=x",
            {"baseline": "'x' is not an integer"},
        ),
    ],
)
def test_a_bad_id_is_a_400_naming_the_parameter_and_its_value(reviewer_client, url, body):  # type: ignore[no-untyped-def]
    response = reviewer_client.get(url)
    assert (response.status_code, response.json()) == (400, body)


def test_the_schema_documents_each_list_filter(admin_client):  # type: ignore[no-untyped-def]
    import yaml

    schema = yaml.safe_load(admin_client.get("/api/schema/").content)
    keyframes = {
        p["name"]: p["schema"] for p in schema["paths"]["/api/v1/keyframes/"]["get"]["parameters"]
    }
    assert keyframes["video"]["type"] == "integer" and keyframes["assignee"]["type"] == "string"
    assert set(keyframes["status"]["enum"]) == {"unreviewed", "in_progress", "reviewed", "flagged"}
    assert "-timestamp" in keyframes["ordering"]["enum"]
    jobs = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/jobs/"]["get"]["parameters"]}
    assert set(jobs["job_type"]["enum"]) == set(Job.Type.values)


def test_the_keyframe_selector_takes_plain_arguments(reviewer, ava_dataset):  # type: ignore[no-untyped-def]
    from annotator.errors import ApplicationError
    from annotator.selectors import keyframe_list

    video = VideoFactory(dataset=ava_dataset)
    mine = KeyframeFactory(video=video, assignee=reviewer, timestamp=3)
    other = KeyframeFactory(video=video, timestamp=5)
    assert list(keyframe_list(video=video.pk, assignee=reviewer.pk)) == [mine]
    assert list(keyframe_list(video=video.pk, assignee="none", ordering="-timestamp")) == [other]
    with pytest.raises(ApplicationError, match="ordering = 'password'"):
        keyframe_list(ordering="password")
