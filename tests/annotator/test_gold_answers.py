"""Gold keyframes answered blind by several reviewers, each answer stored apart; a manager
approves one as the gold answer (ground truth, exported); per-reviewer figures against the gold
answers on a hand-computed case, each figure linking the keyframes behind it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from annotator import selectors
from annotator.errors import ApplicationError
from annotator.models import AuditEvent, BoxLabel, GoldAnswer, Keyframe, PersonBox
from annotator.selectors_gold import reviewer_figure_keyframes
from annotator.services.review import keyframe_take, review_queue
from tests.factories import KeyframeFactory, VideoFactory

pytestmark = pytest.mark.django_db

STAND, SIT, CARRY, TALK, WATCH = 12, 11, 17, 79, 80
ANSWERS = "/api/v1/gold/answers/"


def box(coords: tuple[float, float, float, float], *labels: int, **fields: object) -> dict:  # type: ignore[type-arg]
    x1, y1, x2, y2 = coords
    return {
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
        "labels": [{"action_id": a} for a in labels],
        **fields,
    }


def put(client, keyframe: Keyframe, boxes: list, status: str | None = None):  # type: ignore[no-untyped-def, type-arg]
    body: dict[str, object] = {"version": keyframe.version, "boxes": boxes}
    if status:
        body["status"] = status
    return client.put(f"/api/v1/keyframes/{keyframe.pk}/annotations/", body, format="json")


@pytest.fixture
def gold_keyframe(ava_dataset) -> Keyframe:  # type: ignore[no-untyped-def]
    """A gold keyframe that a model pre-annotated before it was made gold: a detector box with a
    suggested, scored label, which no reviewer may see."""
    keyframe = KeyframeFactory(video=VideoFactory(dataset=ava_dataset), gold=True)
    suggestion = PersonBox.objects.create(
        keyframe=keyframe,
        x1=0.2,
        y1=0.1,
        x2=0.6,
        y2=0.9,
        source="detector",
        state="suggested",
        detector_score=0.97,
    )
    BoxLabel.objects.create(
        box=suggestion,
        action=ava_dataset.actions.get(action_id=STAND),
        source="model",
        state="suggested",
        score=0.91,
    )
    return keyframe


def client_of(user) -> Client:  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def test_two_reviewers_answer_the_same_gold_keyframe_blind(  # type: ignore[no-untyped-def]
    reviewer, other_reviewer, gold_keyframe
):
    rob, rita = client_of(reviewer), client_of(other_reviewer)
    review = rob.get(f"/api/v1/keyframes/{gold_keyframe.pk}/review/").json()
    assert review["keyframe"]["gold"] and review["boxes"] == []  # no suggestion, no score
    assert review["tracks"] == {"previous": [], "next": []}
    assert review["keyframe"]["gold_answer"] == "none"

    saved = put(rob, gold_keyframe, [box((0.1, 0.1, 0.5, 0.9), STAND, person_id=1)])
    assert saved.status_code == 200, saved.content
    assert [(b["id"], b["person_id"]) for b in saved.json()["boxes"]] == [(1, 1)]
    assert saved.json()["version"] == gold_keyframe.version  # the keyframe did not change
    # Rob keeps his box (its id) and adds one; the keyframe itself keeps only the suggestion.
    saved = put(
        rob,
        gold_keyframe,
        [
            box((0.1, 0.1, 0.5, 0.8), STAND, id=1, person_id=1),
            box((0.6, 0.1, 0.9, 0.9), SIT, TALK, person_id=2),
        ],
    )
    assert [b["id"] for b in saved.json()["boxes"]] == [1, 2]
    assert list(
        PersonBox.objects.filter(keyframe=gold_keyframe).values_list("source", "state")
    ) == [("detector", "suggested")]

    # Rita sees neither Rob's answer nor the suggestion, on the review page or in REST.
    assert rita.get(f"/api/v1/keyframes/{gold_keyframe.pk}/review/").json()["boxes"] == []
    assert rita.get(f"/api/v1/keyframes/{gold_keyframe.pk}/").json()["boxes"] == []
    response = put(rita, gold_keyframe, [box((0.1, 0.1, 0.5, 0.9), WATCH, person_id=7)], "reviewed")
    assert response.status_code == 400  # the AVA rules hold for answers too: one pose per box
    assert "PERSON_MOVEMENT" in response.json()["detail"]
    response = put(
        rita, gold_keyframe, [box((0.1, 0.1, 0.5, 0.9), SIT, WATCH, person_id=7)], "reviewed"
    )
    assert response.status_code == 200, response.content
    assert [b["labels"][0]["action_id"] for b in response.json()["boxes"]] == [SIT]

    answers = {a.reviewer_id: a for a in GoldAnswer.objects.filter(keyframe=gold_keyframe)}
    assert [b["labels"] for b in answers[reviewer.pk].boxes] == [[STAND], [SIT, TALK]]
    assert answers[reviewer.pk].submitted_at is None  # a draft until marked reviewed
    assert [b["labels"] for b in answers[other_reviewer.pk].boxes] == [[SIT, WATCH]]
    assert answers[other_reviewer.pk].submitted_at is not None
    # Rob's view is still his own answer, and the keyframe is still to review.
    assert (
        rob.get(f"/api/v1/keyframes/{gold_keyframe.pk}/review/").json()["keyframe"]["gold_answer"]
        == "draft"
    )
    theirs = rita.get(f"/api/v1/keyframes/{gold_keyframe.pk}/review/").json()["keyframe"]
    assert theirs["gold_answer"] == "submitted"
    mine = rob.get(f"/api/v1/keyframes/{gold_keyframe.pk}/review/").json()["boxes"]
    assert [b["person_id"] for b in mine] == [1, 2]
    assert all(label["score"] is None for b in mine for label in b["labels"])
    gold_keyframe.refresh_from_db()
    assert gold_keyframe.status == "unreviewed" and gold_keyframe.reviewed_by is None
    assert AuditEvent.objects.filter(verb="gold_answer.save").count() == 3  # not the refused

    # Rita answered, so it left her queue; Rob has not submitted, so it is still in his.
    assert not review_queue(user=other_reviewer).filter(pk=gold_keyframe.pk).exists()
    assert keyframe_take(user=reviewer) == gold_keyframe
    # Reviewers never read the answers, nor approve them.
    assert rob.get(ANSWERS).status_code == 403
    assert rob.post(f"{ANSWERS}{answers[other_reviewer.pk].pk}/approve/").status_code == 403


def test_several_reviewers_answer_a_gold_keyframe_at_once(  # type: ignore[no-untyped-def]
    reviewer, other_reviewer, gold_keyframe
):
    plain = KeyframeFactory(video=gold_keyframe.video, timestamp=gold_keyframe.timestamp + 1)
    rob, rita = client_of(reviewer), client_of(other_reviewer)
    lease = f"/api/v1/keyframes/{gold_keyframe.pk}/lease/"

    # Each answer is stored apart, so a lease holds nobody off a gold keyframe.
    assert keyframe_take(user=reviewer) == gold_keyframe
    assert keyframe_take(user=other_reviewer) == gold_keyframe
    assert rob.put(lease).status_code == 200 and rita.put(lease).status_code == 200
    for client in (rob, rita):
        review = client.get(f"/api/v1/keyframes/{gold_keyframe.pk}/review/").json()
        assert review["read_only"] is None and review["keyframe"]["lease_holder"] is None
    for client, action in ((rob, STAND), (rita, SIT)):
        saved = put(client, gold_keyframe, [box((0.1, 0.1, 0.5, 0.9), action)], "reviewed")
        assert saved.status_code == 200, saved.content
    answers = GoldAnswer.objects.filter(keyframe=gold_keyframe, submitted_at__isnull=False)
    assert sorted(answer.boxes[0]["labels"][0] for answer in answers) == [SIT, STAND]

    # A keyframe that is not gold still goes to one reviewer at a time.
    assert keyframe_take(user=reviewer) == plain
    assert keyframe_take(user=other_reviewer) is None
    refused = put(rita, plain, [box((0.1, 0.1, 0.5, 0.9), SIT)])
    assert refused.status_code == 403 and "leased to another reviewer" in refused.json()["detail"]
    review = rita.get(f"/api/v1/keyframes/{plain.pk}/review/").json()
    assert review["read_only"] == f"being reviewed by {reviewer.username}"
    assert review["keyframe"]["lease_holder"] == reviewer.username


def test_a_manager_approves_the_first_gold_answer_as_ground_truth(  # type: ignore[no-untyped-def]
    manager_client, reviewer, other_reviewer, gold_keyframe, anonymous_client
):
    rob, rita = client_of(reviewer), client_of(other_reviewer)
    put(rob, gold_keyframe, [box((0.1, 0.1, 0.5, 0.9), STAND, CARRY, person_id=1)], "reviewed")
    put(rita, gold_keyframe, [box((0.1, 0.1, 0.5, 0.9), SIT, person_id=4)])  # a draft
    robs = GoldAnswer.objects.get(reviewer=reviewer)
    ritas = GoldAnswer.objects.get(reviewer=other_reviewer)

    assert anonymous_client.get(ANSWERS).status_code in (401, 403)
    listing = manager_client.get(ANSWERS, {"keyframe": gold_keyframe.pk})
    assert listing.status_code == 200
    rows = {row["reviewer_name"]: row for row in listing.json()["results"]}
    assert rows[reviewer.username]["boxes"][0]["labels"] == [STAND, CARRY]
    assert rows[other_reviewer.username]["submitted_at"] is None
    assert manager_client.get(ANSWERS, {"approved": "true"}).json()["count"] == 0

    draft = manager_client.post(f"{ANSWERS}{ritas.pk}/approve/")
    assert draft.status_code == 400 and "draft" in draft.json()["detail"]
    approved = manager_client.post(f"{ANSWERS}{robs.pk}/approve/")
    assert approved.status_code == 200, approved.content
    assert approved.json()["approved_by"] is not None

    gold_keyframe.refresh_from_db()
    assert gold_keyframe.status == "reviewed" and gold_keyframe.version == 2
    truth = PersonBox.objects.filter(keyframe=gold_keyframe, source="human").get()
    assert (truth.person_id, truth.state, truth.y2) == (1, "accepted", 0.9)
    assert sorted(truth.labels.values_list("action__action_id", flat=True)) == [STAND, CARRY]
    suggestion = PersonBox.objects.get(keyframe=gold_keyframe, source="detector")
    assert suggestion.state == "rejected"
    assert AuditEvent.objects.filter(verb="gold_answer.approve", object_id=robs.pk).exists()
    assert AuditEvent.objects.filter(verb="box.create", keyframe=gold_keyframe).exists()
    # The first approval is the gold answer; Rita's answer stays hers, apart.
    put(rita, gold_keyframe, [box((0.1, 0.1, 0.5, 0.9), SIT, person_id=4)], "reviewed")
    again = manager_client.post(f"{ANSWERS}{ritas.pk}/approve/")
    assert again.status_code == 409
    assert manager_client.get(ANSWERS, {"approved": "true"}).json()["count"] == 1
    assert GoldAnswer.objects.get(pk=ritas.pk).boxes[0]["labels"] == [SIT]


def test_a_manager_replaces_a_wrong_gold_answer(  # type: ignore[no-untyped-def]
    manager_client, manager, reviewer, other_reviewer, gold_keyframe
):
    from django.test import Client

    rob, rita = client_of(reviewer), client_of(other_reviewer)
    put(rob, gold_keyframe, [box((0.1, 0.1, 0.5, 0.9), STAND, CARRY, person_id=1)], "reviewed")
    put(rita, gold_keyframe, [box((0.2, 0.1, 0.6, 0.9), SIT, person_id=4)], "reviewed")
    robs = GoldAnswer.objects.get(reviewer=reviewer)
    ritas = GoldAnswer.objects.get(reviewer=other_reviewer)
    assert manager_client.post(f"{ANSWERS}{robs.pk}/approve/").status_code == 200

    def truth() -> list[tuple[int | None, float, list[int]]]:
        return [
            (b.person_id, b.x1, sorted(b.labels.values_list("action__action_id", flat=True)))
            for b in PersonBox.objects.filter(keyframe=gold_keyframe, source="human")
        ]

    refused = manager_client.post(f"{ANSWERS}{ritas.pk}/approve/")
    assert refused.status_code == 409 and "replace" in refused.json()["detail"]
    replaced = manager_client.post(f"{ANSWERS}{ritas.pk}/approve/", {"replace": True}, "json")
    assert replaced.status_code == 200, replaced.content
    assert truth() == [(4, 0.2, [SIT])]  # Rob's boxes are gone, not stacked
    assert GoldAnswer.objects.get(pk=robs.pk).approved_at is None
    assert [
        a["id"] for a in manager_client.get(ANSWERS, {"approved": "true"}).json()["results"]
    ] == [ritas.pk]
    event = AuditEvent.objects.filter(verb="gold_answer.approve", object_id=ritas.pk).get()
    assert event.before == {"replaced": robs.pk}
    again = manager_client.post(f"{ANSWERS}{ritas.pk}/approve/", {"replace": True}, "json")
    assert again.status_code == 409  # already the gold answer

    # The gold page offers the other submitted answer in its place, and puts it back.
    page = Client()
    page.force_login(manager)
    html = page.get("/gold/").content.decode()
    assert f'action="/gold/answers/{robs.pk}/approve/"' in html and "Make gold instead" in html
    assert f'action="/gold/answers/{ritas.pk}/approve/"' not in html
    page.post(f"/gold/answers/{robs.pk}/approve/", {"replace": "1"})
    assert truth() == [(1, 0.1, [STAND, CARRY])]
    gold_keyframe.refresh_from_db()
    assert gold_keyframe.status == "reviewed" and gold_keyframe.version == 4

    # When no answer is right, the manager answers too (a save on a gold keyframe is the saver's
    # own answer, a manager's as well) and makes that answer gold instead.
    mine = put(manager_client, gold_keyframe, [box((0.3, 0.2, 0.7, 0.9), WATCH, SIT)], "reviewed")
    assert mine.status_code == 200, mine.content
    managers = GoldAnswer.objects.get(keyframe=gold_keyframe, reviewer=manager)
    replaced = manager_client.post(f"{ANSWERS}{managers.pk}/approve/", {"replace": True}, "json")
    assert replaced.status_code == 200, replaced.content
    assert truth() == [(None, 0.3, [SIT, WATCH])]


def test_only_approved_gold_answers_are_exported(  # type: ignore[no-untyped-def]
    manager_client, reviewer, gold_keyframe, ava_dataset
):
    from annotator.services.training_export import training_bundle_spec

    rob = client_of(reviewer)
    put(rob, gold_keyframe, [box((0.1, 0.1, 0.5, 0.9), STAND, person_id=1)], "reviewed")
    video = gold_keyframe.video
    # The training bundle needs a validation video with a reviewed keyframe, and media files.
    held_out = VideoFactory(dataset=ava_dataset, video_id="held-out", file="videos/held-out.mp4")
    KeyframeFactory(video=held_out, status="reviewed")
    video.file = "videos/gold.mp4"
    video.save()

    def bundled() -> list[tuple[int, int]]:
        spec, _ = training_bundle_spec(dataset=ava_dataset, val_videos=["held-out"])
        (train,) = (item for item in spec.videos if item.split == "train")
        return [(keyframe.timestamp, len(keyframe.boxes)) for keyframe in train.keyframes]

    def exported() -> tuple[list[str], list[str]]:
        """The gold video's rows in the AVA export and in a training snapshot."""
        response = manager_client.get(f"/api/v1/datasets/{ava_dataset.pk}/export/")
        assert response.status_code == 200
        csv = b"".join(response.streaming_content).decode().splitlines()
        training = "".join(
            selectors.ava_ground_truth_lines(dataset=ava_dataset, video_pks=[video.pk])
        )
        return [row for row in csv if row.startswith(f"{video.video_id},")], training.splitlines()

    assert exported() == ([], [])  # a reviewer's answer is not ground truth
    with pytest.raises(ApplicationError, match="no train video"):  # nothing reviewed to train on
        bundled()
    answer = GoldAnswer.objects.get()
    assert manager_client.post(f"{ANSWERS}{answer.pk}/approve/").status_code == 200
    row = f"{video.video_id},{gold_keyframe.timestamp:04d},0.100,0.100,0.500,0.900,{STAND},1"
    assert exported() == ([row], [row])
    assert bundled() == [(gold_keyframe.timestamp, 1)]


def stored_box(box_id: int, coords: tuple[float, float, float, float], *labels: int) -> dict:  # type: ignore[type-arg]
    """A box of a stored answer."""
    x1, y1, x2, y2 = coords
    return {
        "id": box_id,
        "person_id": box_id,
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
        "labels": list(labels),
    }


@pytest.fixture
def figures_case(manager, reviewer, other_reviewer, ava_dataset):  # type: ignore[no-untyped-def]
    """Rob reviews two keyframes (at t0 and t0 + 60 s) and answers one gold keyframe (t0 +
    180 s); Rita's answer on it is approved. Suggestions on Rob's keyframes: one keyframe with
    a box accepted, its label accepted and another label rejected; the other with a box edited
    and a box rejected with its label."""
    video = VideoFactory(dataset=ava_dataset)
    stand, sit = (ava_dataset.actions.get(action_id=a) for a in (STAND, SIT))
    t0 = timezone.now() - timedelta(hours=2)
    first, second = (
        KeyframeFactory(
            video=video,
            timestamp=902 + i,
            status="reviewed",
            reviewed_by=reviewer,
            reviewed_at=t0 + timedelta(seconds=60 * i),
        )
        for i in range(2)
    )
    coords = {"x1": 0.1, "y1": 0.1, "x2": 0.5, "y2": 0.9}
    accepted = PersonBox.objects.create(
        keyframe=first, source="detector", state="accepted", **coords
    )
    BoxLabel.objects.create(box=accepted, action=stand, source="model", state="accepted")
    BoxLabel.objects.create(box=accepted, action=sit, source="model", state="rejected")
    PersonBox.objects.create(keyframe=second, source="detector", state="edited", **coords)
    rejected = PersonBox.objects.create(
        keyframe=second, source="detector", state="rejected", **coords
    )
    BoxLabel.objects.create(box=rejected, action=stand, source="model", state="rejected")

    gold = KeyframeFactory(video=video, timestamp=910, gold=True)
    # Gold: g1 (stand, talk) and g2 (sit, carry). Rob: b1 on g1 at IoU 0.9 (stand, watch) and
    # b2 matching nothing. Matched 1 of 2 gold and 1 of 2 answered boxes; over the matched pair
    # PERSON_MOVEMENT agrees (F1 1), PERSON_INTERACTION does not (watch vs talk: F1 0).
    GoldAnswer.objects.create(
        keyframe=gold,
        reviewer=other_reviewer,
        submitted_at=t0,
        boxes=[
            stored_box(1, (0.0, 0.0, 0.4, 1.0), STAND, TALK),
            stored_box(2, (0.5, 0.0, 0.9, 1.0), SIT, CARRY),
        ],
    )
    GoldAnswer.objects.create(
        keyframe=gold,
        reviewer=reviewer,
        submitted_at=t0 + timedelta(seconds=180),
        boxes=[
            stored_box(1, (0.0, 0.0, 0.4, 0.9), STAND, WATCH),
            stored_box(2, (0.6, 0.6, 0.7, 0.7), STAND),
        ],
    )
    approve = client_of(manager).post(
        f"{ANSWERS}{GoldAnswer.objects.get(reviewer=other_reviewer).pk}/approve/"
    )
    assert approve.status_code == 200, approve.content
    return {"first": first, "second": second, "gold": gold}


def test_per_reviewer_figures_on_a_hand_computed_case(  # type: ignore[no-untyped-def]
    manager_client,
    reviewer_client,
    reviewer,
    other_reviewer,
    figures_case,
    django_assert_max_num_queries,
):
    with django_assert_max_num_queries(12):
        response = manager_client.get("/api/v1/reviewers/figures/")
    assert response.status_code == 200
    rows = {row["username"]: row for row in response.json()}
    rob = rows[reviewer.username]
    assert rob["keyframes_reviewed"] == 3
    assert rob["reviewed_per_hour"] == pytest.approx(40.0)  # 2 keyframes in 180 s
    assert rob["suggestions"] == {"accepted": 2, "edited": 1, "rejected": 3}
    assert rob["gold"] == {
        "keyframes": 1,
        "gold_boxes": 2,
        "answer_boxes": 2,
        "matched_boxes": 1,
        "box_recall": 0.5,
        "box_precision": 0.5,
        "label_f1": {"PERSON_INTERACTION": 0.0, "PERSON_MOVEMENT": 1.0},
    }
    # Rita's answer is the gold answer: the reference, not scored against itself.
    rita = rows[other_reviewer.username]
    assert rita["gold"]["keyframes"] == 0 and rita["gold"]["box_recall"] is None
    assert rita["keyframes_reviewed"] == 1 and rita["reviewed_per_hour"] is None
    assert reviewer_client.get("/api/v1/reviewers/figures/").status_code == 403


def test_each_figure_links_the_keyframes_behind_it(  # type: ignore[no-untyped-def]
    manager, reviewer, figures_case
):
    page = Client()
    page.force_login(manager)
    links = {
        row["username"]: row["links"]
        for row in client_of(manager).get("/api/v1/reviewers/figures/").json()
    }[reviewer.username]
    first, second, gold = figures_case["first"], figures_case["second"], figures_case["gold"]

    def listed(figure: str) -> set[int]:
        response = page.get(links[figure])
        assert response.status_code == 200
        html = response.content.decode()
        return {k.pk for k in (first, second, gold) if f'data-keyframe="{k.pk}"' in html}

    assert listed("reviewed") == {first.pk, second.pk, gold.pk}
    assert listed("accepted") == {first.pk}
    assert listed("edited") == {second.pk}
    assert listed("rejected") == {first.pk, second.pk}
    assert listed("gold") == {gold.pk}
    accepted = page.get(links["accepted"]).content.decode()
    assert f'href="/review/{first.pk}/"' in accepted
    assert f'href="/gold/#keyframe-{gold.pk}"' in page.get(links["gold"]).content.decode()

    overview = page.get("/reviewers/").content.decode()
    assert f'href="{links["accepted"]}"' in overview and ">0.50</a>" in overview
    gold_page = page.get("/gold/").content.decode()
    assert f'id="keyframe-{gold.pk}"' in gold_page and "gold answer</span> approved" in gold_page
    assert page.get(f"/reviewers/{reviewer.pk}/nonsense/").status_code == 404
    # A long list shows its first rows and says how many there are.
    first_one = reviewer_figure_keyframes(reviewer_id=reviewer.pk, figure="reviewed", limit=1)
    assert [row["keyframe"] for row in first_one["rows"]] == [first] and first_one["total"] == 3
    assert ">3 keyframes.<" in page.get(links["reviewed"]).content.decode()

    someone = Client()
    someone.force_login(reviewer)
    for url in ("/gold/", "/reviewers/", links["gold"]):
        assert someone.get(url).status_code == 403


def test_the_gold_page_approves_an_answer(client, manager, reviewer, gold_keyframe):  # type: ignore[no-untyped-def]
    put(client_of(reviewer), gold_keyframe, [box((0.1, 0.1, 0.5, 0.9), STAND)], "reviewed")
    answer = GoldAnswer.objects.get()
    client.force_login(manager)
    page = client.get("/gold/").content.decode()
    assert f'action="/gold/answers/{answer.pk}/approve/"' in page and "stand" in page
    response = client.post(f"/gold/answers/{answer.pk}/approve/", follow=True)
    assert response.status_code == 200
    assert "is the gold answer of keyframe" in response.content.decode()
    assert Keyframe.objects.get(pk=gold_keyframe.pk).status == "reviewed"
    client.force_login(reviewer)
    assert client.post(f"/gold/answers/{answer.pk}/approve/").status_code == 403


def test_the_answers_list_reads_in_a_fixed_number_of_queries(  # type: ignore[no-untyped-def]
    manager_client, ava_dataset
):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(answers: int) -> int:
        GoldAnswer.objects.all().delete()
        for index in range(answers):
            user = get_user_model().objects.create_user(f"answerer-{answers}-{index}")
            keyframe = KeyframeFactory(video=VideoFactory(dataset=ava_dataset), gold=True)
            GoldAnswer.objects.create(keyframe=keyframe, reviewer=user, boxes=[])
        with CaptureQueriesContext(connection) as captured:
            response = manager_client.get(ANSWERS)
        assert response.json()["count"] == answers
        return len(captured)

    assert queries(1) == queries(4)


def test_user_strings_on_the_gold_page_are_escaped(client, manager, reviewer):  # type: ignore[no-untyped-def]
    from annotator.models import Action, Dataset

    dataset = Dataset.objects.create(name="custom", review_rules={})
    Action.objects.create(dataset=dataset, action_id=1, name="<img src=x onerror=alert(1)>")
    keyframe = KeyframeFactory(video=VideoFactory(dataset=dataset), gold=True)
    put(client_of(reviewer), keyframe, [box((0.1, 0.1, 0.5, 0.9), 1)], "reviewed")
    client.force_login(manager)
    page = client.get("/gold/").content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page
