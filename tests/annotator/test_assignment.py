"""Managers assign keyframe ranges, whole videos or N keyframes to reviewers and release them
(REST and the page); reviewers get their assigned work first; reviewers may not assign."""

from __future__ import annotations

import pytest

from annotator.models import AuditEvent, Keyframe
from annotator.services.review import keyframe_take
from tests.factories import KeyframeFactory, VideoFactory

API = "/api/v1/assignments/"


@pytest.fixture
def videos(ava_dataset):  # type: ignore[no-untyped-def]
    first, second = VideoFactory(dataset=ava_dataset), VideoFactory(dataset=ava_dataset)
    for video in (first, second):
        for timestamp in range(902, 908):
            KeyframeFactory(video=video, timestamp=timestamp)
    return first, second


def assigned(user) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    return list(
        Keyframe.objects.filter(assignee=user)
        .order_by("video_id", "timestamp")
        .values_list("video_id", "timestamp")
    )


def test_a_manager_assigns_a_range_a_video_and_n_keyframes_and_releases_them(
    manager_client, reviewer, other_reviewer, videos
):  # type: ignore[no-untyped-def]
    first, second = videos
    Keyframe.objects.filter(video=first, timestamp=904).update(status="reviewed")
    response = manager_client.post(
        API,
        {
            "action": "assign",
            "reviewer": reviewer.pk,
            "video": first.pk,
            "timestamp_from": 903,
            "timestamp_to": 905,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert len(response.json()["keyframes"]) == 2  # 904 is reviewed already
    assert assigned(reviewer) == [(first.pk, 903), (first.pk, 905)]

    # N keyframes of the dataset: the first ones nobody else has.
    response = manager_client.post(
        API,
        {
            "action": "assign",
            "reviewer": other_reviewer.pk,
            "dataset": first.dataset_id,
            "count": 3,
        },
        format="json",
    )
    assert response.status_code == 200
    assert assigned(other_reviewer) == [(first.pk, 902), (first.pk, 906), (first.pk, 907)]
    # A whole video.
    manager_client.post(
        API, {"action": "assign", "reviewer": reviewer.pk, "video": second.pk}, format="json"
    )
    assert len(assigned(reviewer)) == 2 + 6
    summary = {row["username"]: row for row in manager_client.get(API).json()}
    assert summary[reviewer.username]["assigned_open"] == 8
    assert summary[other_reviewer.username]["assigned_open"] == 3

    # The reviewer's queue starts with their own work, the other's never shows theirs.
    taken = keyframe_take(user=reviewer)
    assert taken is not None and (taken.video_id, taken.timestamp) == (first.pk, 903)

    response = manager_client.post(
        API, {"action": "release", "reviewer": reviewer.pk, "video": second.pk}, format="json"
    )
    assert len(response.json()["keyframes"]) == 6
    assert assigned(reviewer) == [(first.pk, 903), (first.pk, 905)]
    manager_client.post(API, {"action": "release", "dataset": first.dataset_id}, format="json")
    assert not Keyframe.objects.filter(assignee__isnull=False).exists()
    assert AuditEvent.objects.filter(verb__startswith="keyframes.").count() == 5


def test_bad_assignments_are_refused_and_reviewers_may_not_assign(
    manager_client, reviewer_client, reviewer, videos
):  # type: ignore[no-untyped-def]
    first, _ = videos
    both = {"action": "assign", "reviewer": reviewer.pk, "video": first.pk, "dataset": 1}
    response = manager_client.post(API, both, format="json")
    assert response.status_code == 400 and "exactly one" in str(response.json())
    response = manager_client.post(API, {"action": "assign", "video": first.pk}, format="json")
    assert response.status_code == 400 and "reviewer" in str(response.json())
    backwards = {**both, "dataset": None, "timestamp_from": 905, "timestamp_to": 903}
    assert manager_client.post(API, backwards, format="json").status_code == 400
    mine = {"action": "assign", "reviewer": reviewer.pk, "video": first.pk}
    assert reviewer_client.post(API, mine, format="json").status_code == 403
    assert reviewer_client.get(API).status_code == 403
    assert not Keyframe.objects.filter(assignee__isnull=False).exists()


def test_the_page_assigns_and_shows_the_summary(client, manager, reviewer, videos):  # type: ignore[no-untyped-def]
    first, _ = videos
    client.force_login(reviewer)
    assert client.get("/assignments/").status_code == 403
    client.force_login(manager)
    page = client.get("/assignments/")
    assert page.status_code == 200 and b'id="assign-form"' in page.content
    response = client.post(
        "/assignments/",
        {"action": "assign", "reviewer": reviewer.pk, "video": first.pk, "count": "2"},
    )
    assert response.status_code == 200
    assert b"2 keyframes assigned." in response.content
    assert assigned(reviewer) == [(first.pk, 902), (first.pk, 903)]
    response = client.post("/assignments/", {"action": "assign", "video": first.pk})
    assert response.status_code == 400 and b'id="assign-error"' in response.content
