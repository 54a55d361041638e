"""Saving a keyframe's boxes and labels over REST: optimistic lock, review rules, roles, audit."""

from __future__ import annotations

import pytest

from annotator.models import Action, AuditEvent, BoxLabel, Keyframe, PersonBox
from tests.factories import KeyframeFactory, PersonBoxFactory, VideoFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def keyframe(ava_dataset):  # type: ignore[no-untyped-def]
    return KeyframeFactory(video=VideoFactory(dataset=ava_dataset))


def url(keyframe: Keyframe) -> str:
    return f"/api/v1/keyframes/{keyframe.pk}/annotations/"


def box(labels: list[int], **fields: object) -> dict[str, object]:
    return {
        "x1": 0.1,
        "y1": 0.2,
        "x2": 0.5,
        "y2": 0.9,
        "labels": [{"action_id": a} for a in labels],
        **fields,
    }


def test_it_creates_boxes_and_labels_and_bumps_the_version(reviewer_client, keyframe):  # type: ignore[no-untyped-def]
    response = reviewer_client.put(
        url(keyframe), {"version": 1, "boxes": [box([12, 17], person_id=3)]}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["version"] == 2
    assert [label["action_id"] for label in body["boxes"][0]["labels"]] == [12, 17]
    saved = PersonBox.objects.get(keyframe=keyframe)
    assert (saved.source, saved.state, saved.person_id) == ("human", "accepted", 3)
    assert sorted(saved.labels.values_list("action__action_id", flat=True)) == [12, 17]
    assert AuditEvent.objects.filter(verb="box.create", object_id=saved.pk).exists()
    assert AuditEvent.objects.filter(verb="label.create").count() == 2


def test_it_refuses_a_stale_version_with_409_and_the_current_state(reviewer_client, keyframe):  # type: ignore[no-untyped-def]
    first = reviewer_client.put(url(keyframe), {"version": 1, "boxes": [box([12])]}, format="json")
    assert first.status_code == 200

    stale = reviewer_client.put(url(keyframe), {"version": 1, "boxes": []}, format="json")

    assert stale.status_code == 409
    assert stale.json()["current"]["version"] == 2
    assert len(stale.json()["current"]["boxes"]) == 1
    assert PersonBox.objects.filter(keyframe=keyframe).count() == 1  # nothing overwritten


def test_it_checks_the_review_rules_when_marking_reviewed(reviewer_client, keyframe):  # type: ignore[no-untyped-def]
    # Two PERSON_MOVEMENT actions (12 stand, 11 sit) break "exactly one".
    response = reviewer_client.put(
        url(keyframe), {"version": 1, "status": "reviewed", "boxes": [box([11, 12])]}, format="json"
    )

    assert response.status_code == 400
    assert "PERSON_MOVEMENT" in response.json()["detail"]
    assert "the rule is 1..1" in response.json()["detail"]
    keyframe.refresh_from_db()
    assert keyframe.status == "unreviewed"
    assert keyframe.version == 1  # the whole save was rolled back
    assert not PersonBox.objects.filter(keyframe=keyframe).exists()


def test_it_marks_a_keyframe_reviewed_when_the_rules_hold(reviewer_client, reviewer, keyframe):  # type: ignore[no-untyped-def]
    response = reviewer_client.put(
        url(keyframe),
        {"version": 1, "status": "reviewed", "boxes": [box([12, 17, 80])]},
        format="json",
    )

    assert response.status_code == 200, response.json()
    keyframe.refresh_from_db()
    assert keyframe.status == "reviewed"
    assert keyframe.reviewed_by == reviewer


def test_omitted_machine_suggestions_are_rejected_and_human_boxes_deleted(
    reviewer_client, keyframe
):  # type: ignore[no-untyped-def]
    suggestion = PersonBoxFactory(keyframe=keyframe, source="detector", state="suggested")
    human = PersonBoxFactory(keyframe=keyframe, source="human", state="accepted")

    response = reviewer_client.put(url(keyframe), {"version": 1, "boxes": []}, format="json")

    assert response.status_code == 200
    suggestion.refresh_from_db()
    assert suggestion.state == "rejected"
    assert not PersonBox.objects.filter(pk=human.pk).exists()
    assert AuditEvent.objects.filter(verb="box.delete", object_id=human.pk).exists()


def test_a_moved_suggestion_becomes_edited_and_a_kept_label_accepted(reviewer_client, keyframe):  # type: ignore[no-untyped-def]
    suggestion = PersonBoxFactory(keyframe=keyframe, source="model", state="suggested")
    BoxLabel.objects.create(
        box=suggestion,
        action=Action.objects.get(dataset=keyframe.video.dataset, action_id=12),
        source="model",
        state="suggested",
        score=0.9,
    )
    BoxLabel.objects.create(
        box=suggestion,
        action=Action.objects.get(dataset=keyframe.video.dataset, action_id=14),
        source="model",
        state="suggested",
        score=0.4,
    )

    payload = box([12], id=suggestion.pk)
    payload["x2"] = 0.45
    response = reviewer_client.put(url(keyframe), {"version": 1, "boxes": [payload]}, format="json")

    assert response.status_code == 200, response.json()
    suggestion.refresh_from_db()
    assert suggestion.state == "edited"
    states = dict(suggestion.labels.values_list("action__action_id", "state"))
    assert states == {12: "accepted", 14: "rejected"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("x1", 1.5, "x1"), ("x2", 0.05, "x1 = 0.1 must be < x2")],
)
def test_it_rejects_bad_boxes_naming_the_field(reviewer_client, keyframe, field, value, message):  # type: ignore[no-untyped-def]
    response = reviewer_client.put(
        url(keyframe), {"version": 1, "boxes": [box([12], **{field: value})]}, format="json"
    )

    assert response.status_code == 400
    assert message in str(response.json())
    assert not PersonBox.objects.exists()


def test_it_rejects_unknown_actions(reviewer_client, keyframe):  # type: ignore[no-untyped-def]
    response = reviewer_client.put(
        url(keyframe), {"version": 1, "boxes": [box([999])]}, format="json"
    )

    assert response.status_code == 400
    assert "unknown action id 999" in response.json()["detail"]


def test_a_reviewer_cannot_edit_a_keyframe_assigned_to_someone_else(
    reviewer_client, other_reviewer, keyframe
):  # type: ignore[no-untyped-def]
    Keyframe.objects.filter(pk=keyframe.pk).update(assignee=other_reviewer)

    response = reviewer_client.put(
        url(keyframe), {"version": 1, "boxes": [box([12])]}, format="json"
    )

    assert response.status_code == 403
    assert not PersonBox.objects.exists()


def test_a_manager_can_edit_any_keyframe(manager_client, other_reviewer, keyframe):  # type: ignore[no-untyped-def]
    Keyframe.objects.filter(pk=keyframe.pk).update(assignee=other_reviewer)

    response = manager_client.put(
        url(keyframe), {"version": 1, "boxes": [box([12])]}, format="json"
    )

    assert response.status_code == 200
