"""Least confident first: the stored per-keyframe uncertainty under the active version, its
recompute job when the active version changes, and the queue's order and take in fixed queries."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotator.models import BoxScore, Job, Keyframe, ModelVersion
from annotator.services.datasets import dataset_activate_model
from annotator.services.review import keyframe_take, review_queue, review_queue_head
from annotator.services.uncertainty import keyframes_uncertainty_update
from annotator.tasks import uncertainty_task
from tests.factories import KeyframeFactory, PersonBoxFactory, VideoFactory


def _version(dataset, name: str) -> ModelVersion:  # type: ignore[no-untyped-def]
    return ModelVersion.objects.create(
        dataset=dataset, name=name, checkpoint=f"checkpoints/{name}.pt", label_map=[]
    )


def _score(keyframe: Keyframe, version: ModelVersion, *vectors: list[float]) -> None:
    for vector in vectors:
        box = PersonBoxFactory(keyframe=keyframe, source="detector", state="suggested")
        BoxScore.objects.create(
            box=box,
            model_version=version,
            scores=np.asarray(vector, dtype=np.float16).tobytes(),
        )


@pytest.fixture
def scored(ava_dataset):  # type: ignore[no-untyped-def]
    """Three keyframes in time order; version a is unsure about the last two, b about the first."""
    video = VideoFactory(dataset=ava_dataset)
    keyframes = [KeyframeFactory(video=video, timestamp=t) for t in (902, 903, 904, 905)]
    a, b = _version(ava_dataset, "a"), _version(ava_dataset, "b")
    _score(keyframes[0], b, [0.5, 0.5, 0.5])  # only b scored it
    _score(keyframes[1], a, [0.5, 0.25, 1.0], [0.75, 0.0, 0.5])  # 0.4375 + 0.4375 = 0.875
    _score(keyframes[2], a, [0.5, 0.5, 0.5])  # 0.75
    _score(keyframes[2], b, [0.0, 0.0, 1.0])  # b is sure: 0
    _score(keyframes[3], a, [1.0, 0.0, 0.0])  # 0
    return keyframes, a, b


def test_it_orders_the_queue_least_confident_first_under_the_active_version(scored, reviewer):  # type: ignore[no-untyped-def]
    keyframes, a, b = scored
    dataset_activate_model(model_version=a)
    job = Job.objects.get(job_type=Job.Type.UNCERTAINTY)
    assert job.params == {"dataset": a.dataset_id} and job.status == Job.Status.QUEUED
    uncertainty_task(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.message
    stored = dict(Keyframe.objects.values_list("pk", "uncertainty"))
    assert stored == {
        keyframes[0].pk: None,
        keyframes[1].pk: pytest.approx(0.875),
        keyframes[2].pk: pytest.approx(0.75),
        keyframes[3].pk: 0.0,
    }
    order = list(review_queue(user=reviewer, order="uncertain").values_list("pk", flat=True))
    assert order == [keyframes[1].pk, keyframes[2].pk, keyframes[3].pk, keyframes[0].pk]
    default = list(review_queue(user=reviewer).values_list("pk", flat=True))
    assert default == [keyframe.pk for keyframe in keyframes]

    # Another active version: a new job recomputes the order under its scores.
    dataset_activate_model(model_version=b)
    second = Job.objects.filter(job_type=Job.Type.UNCERTAINTY).exclude(pk=job.pk).get()
    uncertainty_task(second.pk)
    taken = keyframe_take(user=reviewer, order="uncertain")
    assert taken is not None and taken.pk == keyframes[0].pk
    assert taken.uncertainty == pytest.approx(0.75)


def test_the_rest_take_and_the_page_follow_the_order(scored, reviewer, reviewer_client, client):  # type: ignore[no-untyped-def]
    keyframes, a, _ = scored
    keyframes_uncertainty_update(keyframe_ids=[k.pk for k in keyframes], model_version_id=a.pk)
    response = reviewer_client.get("/api/v1/review/queue/", {"order": "uncertain"})
    assert response.status_code == 200, response.content
    assert response.json() == {"count": 4, "next": keyframes[1].pk}
    response = reviewer_client.post("/api/v1/review/queue/", {"order": "uncertain"}, format="json")
    assert response.json() == {"keyframe": keyframes[1].pk}
    assert reviewer_client.get("/api/v1/review/queue/", {"order": "sideways"}).status_code == 400

    client.force_login(reviewer)
    home = client.get("/")
    assert b'href="/review/?order=uncertain"' in home.content
    response = client.get("/review/", {"order": "uncertain", "skip": ""})
    assert response.status_code == 302
    assert response["Location"] == f"/review/{keyframes[1].pk}/?order=uncertain"
    page = client.get(response["Location"])
    assert b'data-query="order=uncertain"' in page.content


def test_the_take_reads_in_a_fixed_number_of_queries(ava_dataset, reviewer):  # type: ignore[no-untyped-def]
    video = VideoFactory(dataset=ava_dataset)

    def take_queries(count: int) -> int:
        Keyframe.objects.filter(video=video).delete()
        for n in range(count):
            KeyframeFactory(video=video, timestamp=902 + n, uncertainty=float(n % 7))
        with CaptureQueriesContext(connection) as queries:
            taken = keyframe_take(user=reviewer, order="uncertain")
        assert taken is not None and taken.uncertainty == 6.0
        return len(queries)

    assert take_queries(8) == take_queries(40)


def test_the_take_reads_the_head_of_the_queue_the_queue_orders(ava_dataset, reviewer, manager):  # type: ignore[no-untyped-def]
    # review_queue_head reads the head without sorting the queue: at each step of draining a
    # mixed queue (assigned to the reviewer, to someone else, to nobody; scored with ties and
    # unscored; two videos; unreviewed and in progress), in both orders and with every skip, it
    # names review_queue's first.
    videos = [VideoFactory(dataset=ava_dataset) for _ in range(2)]
    uncertainties = [None, 0.5, 0.5, 2.0, None, 0.0, 0.5, 0.5, None, 1.0]
    assignees = [None, reviewer, None, manager, reviewer, None, None, reviewer, None, reviewer]
    for n, (uncertainty, assignee) in enumerate(zip(uncertainties, assignees, strict=True)):
        KeyframeFactory(
            video=videos[n % 2], timestamp=910 - n, uncertainty=uncertainty, assignee=assignee
        )
    in_progress = Keyframe.objects.filter(timestamp__in=[910, 908, 906, 905])
    for order in ("default", "uncertain"):
        Keyframe.objects.update(status=Keyframe.Status.UNREVIEWED)
        in_progress.update(status=Keyframe.Status.IN_PROGRESS)
        while (first := review_queue(user=reviewer, order=order).first()) is not None:
            assert review_queue_head(user=reviewer, order=order) == first.pk, order
            for skip in Keyframe.objects.values_list("pk", flat=True):
                rest = review_queue(user=reviewer, order=order).exclude(pk=skip).first()
                head = review_queue_head(user=reviewer, order=order, skip=skip)
                assert head == (rest.pk if rest else None), (order, skip)
            Keyframe.objects.filter(pk=first.pk).update(status=Keyframe.Status.REVIEWED)
        assert review_queue_head(user=reviewer, order=order) is None
