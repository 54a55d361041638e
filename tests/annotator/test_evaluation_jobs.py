"""Evaluation jobs: the evaluation set, ground truth and detections from the database, reports,
hand-checked APs, missing scores, REST (start, report, figure downloads) and a real worker."""

from __future__ import annotations

import csv
import io
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from annotator.errors import ApplicationError
from annotator.models import (
    Action,
    ActionType,
    BoxLabel,
    BoxScore,
    Dataset,
    EvaluationReport,
    Job,
    Keyframe,
    ModelVersion,
    PersonBox,
    Video,
)
from annotator.services.evaluation import dataset_labelmap, evaluation_start
from annotator.services.jobs import JOB_TASKS
from annotator.tasks import evaluate_task
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db

G1 = (0.1, 0.1, 0.4, 0.9)
G2 = (0.5, 0.1, 0.9, 0.9)
G3 = (0.1, 0.1, 0.5, 0.9)
WALK, TALK, HOLD, DANCE = 1, 2, 3, 4
# Hand-computed (see `scenario`): walk TP .9, FP .8, FP .4, TP .3 of 2 GT -> 1/2 + 1/2 * 2/4;
# talk FP .6, FP .3, TP .2 of 1 -> 1/3; hold FP .7, TP .2 of 1 -> 1/2.
AP_A = {WALK: 0.75, TALK: 1 / 3, HOLD: 0.5}
# walk TP .7, FP .65, TP .6 -> 1/2 + 1/2 * 2/3; talk TP .8; hold TP .9.
AP_B = {WALK: 0.5 + 0.5 * 2 / 3, TALK: 1.0, HOLD: 1.0}


def _box(keyframe, coords, **fields):  # type: ignore[no-untyped-def]
    x1, y1, x2, y2 = coords
    return PersonBox.objects.create(keyframe=keyframe, x1=x1, y1=y1, x2=x2, y2=y2, **fields)


def _label(box, action, **fields):  # type: ignore[no-untyped-def]
    return BoxLabel.objects.create(box=box, action=action, **fields)


def _vector(scores: dict[int, float]) -> bytes:
    return np.array([scores.get(i, 0.0) for i in (1, 2, 3, 4)], np.float16).tobytes()


@pytest.fixture
def scenario(db):  # type: ignore[no-untyped-def]
    """Three reviewed keyframes (two with people), one excluded, one unreviewed; model A's scores
    stored as vectors on detector boxes, model B's as scored labels on its own boxes (an imported
    predictions file). Neither has a checkpoint: nothing missing can be computed."""
    dataset = Dataset.objects.create(name="tiny")
    actions = {
        WALK: Action.objects.create(
            dataset=dataset, action_id=WALK, name="walk", action_type=ActionType.PERSON_MOVEMENT
        ),
        TALK: Action.objects.create(
            dataset=dataset,
            action_id=TALK,
            name="talk to (a person)",
            action_type=ActionType.PERSON_INTERACTION,
        ),
        HOLD: Action.objects.create(
            dataset=dataset,
            action_id=HOLD,
            name="hold (an object)",
            action_type=ActionType.OBJECT_MANIPULATION,
        ),
        DANCE: Action.objects.create(
            dataset=dataset, action_id=DANCE, name="dance", evaluated=False
        ),
    }
    video = Video.objects.create(dataset=dataset, video_id="clip-1", status=Video.Status.READY)
    reviewed = Keyframe.Status.REVIEWED
    kf1, kf2, kf3 = (
        Keyframe.objects.create(video=video, timestamp=t, status=reviewed) for t in (901, 902, 903)
    )
    kf4 = Keyframe.objects.create(video=video, timestamp=904, status=reviewed, excluded=True)
    kf5 = Keyframe.objects.create(video=video, timestamp=905)

    # Ground truth: G1 walk + talk, G2 walk (and a rejected model label), G3 hold; kf3 has none.
    g1 = _box(kf1, G1, source="human", state="accepted", person_id=1)
    _label(g1, actions[WALK], source="human", state="accepted")
    _label(g1, actions[TALK], source="human", state="accepted")
    g2 = _box(kf1, G2, source="model", state="accepted", person_id=2)
    _label(g2, actions[WALK], source="model", state="accepted", score=0.7)
    _label(g2, actions[TALK], source="model", state="rejected", score=0.6)
    g3 = _box(kf2, G3, source="import", state="accepted")
    _label(g3, actions[HOLD], source="import", state="accepted")
    # Not ground truth: an excluded keyframe's box, an unreviewed keyframe's, a suggestion.
    _label(_box(kf4, G1, source="human", state="accepted"), actions[WALK], source="human")
    _label(_box(kf5, G1, source="human", state="accepted"), actions[WALK], source="human")
    suggestion = _box(kf2, (0.6, 0.2, 0.9, 0.8), source="model", state="suggested")
    _label(suggestion, actions[TALK], source="model", state="suggested", score=0.4)

    label_map = [{"id": i, "name": actions[i].name} for i in (1, 2, 3, 4)]
    model_a = ModelVersion.objects.create(dataset=dataset, name="slow-only", label_map=label_map)
    for keyframe, coords, scores in [
        (kf1, G1, {WALK: 0.9, TALK: 0.2, HOLD: 0.1, DANCE: 0.5}),
        (kf1, (0.52, 0.1, 0.9, 0.9), {WALK: 0.3, TALK: 0.6, HOLD: 0.05}),
        (kf3, (0.2, 0.2, 0.6, 0.6), {WALK: 0.8, TALK: 0.1, HOLD: 0.7}),
        (kf2, G3, {WALK: 0.4, TALK: 0.3, HOLD: 0.2}),
        (kf4, G1, {WALK: 0.99}),  # excluded keyframe: ignored
        (kf5, G1, {WALK: 0.99}),  # unreviewed keyframe: ignored
    ]:
        box = _box(keyframe, coords, source="detector", state="suggested")
        BoxScore.objects.create(box=box, model_version=model_a, scores=_vector(scores))
    model_b = ModelVersion.objects.create(
        dataset=dataset, name="slowfast", label_map=label_map, status="external"
    )
    for keyframe, coords, scores in [
        (kf1, G1, {WALK: 0.7, TALK: 0.8}),
        (kf1, G2, {WALK: 0.6}),
        (kf2, G3, {HOLD: 0.9, WALK: 0.65}),
    ]:
        box = _box(keyframe, coords, source="model", state="suggested", model_version=model_b)
        for action_id, score in scores.items():
            _label(box, actions[action_id], source="model", state="suggested", score=score)
    return {
        "dataset": dataset,
        "video": video,
        "keyframes": (kf1, kf2, kf3, kf4, kf5),
        "actions": actions,
        "a": model_a,
        "b": model_b,
        "g1": g1,
    }


def run(job: Job) -> Job:
    """The job's task body in this process, as a worker runs it."""
    evaluate_task.run(job.pk)
    job.refresh_from_db()
    return job


def test_it_scores_two_versions_with_hand_computed_aps(scenario) -> None:  # type: ignore[no-untyped-def]
    job = evaluation_start(
        dataset=scenario["dataset"], model_version=scenario["b"], baseline=scenario["a"]
    )
    assert job.job_type == Job.Type.EVALUATE and JOB_TASKS[job.job_type] == (
        evaluate_task.name,
        "default",
    )
    job = run(job)
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.progress == 1.0
    report_a, report_b = (EvaluationReport.objects.get(pk=pk) for pk in job.result["reports"])
    assert (report_a.model_version, report_b.model_version) == (scenario["a"], scenario["b"])
    assert job.result["keyframes"] == 3 and job.result["ground_truth_rows"] == 4
    for report, expected in ((report_a, AP_A), (report_b, AP_B)):
        assert set(report.per_class) == {"1", "2", "3"}  # evaluated actions only
        for action_id, ap in expected.items():
            assert report.per_class[str(action_id)]["ap"] == pytest.approx(ap, abs=1e-9)
        assert report.mean_ap == pytest.approx(sum(expected.values()) / 3, abs=1e-9)
        assert report.per_type == pytest.approx(
            {
                "PERSON_MOVEMENT": expected[WALK],
                "PERSON_INTERACTION": expected[TALK],
                "OBJECT_MANIPULATION": expected[HOLD],
            }
        )
        assert {k: v["gt_count"] for k, v in report.per_class.items()} == {"1": 2, "2": 1, "3": 1}
        assert report.box_source == "detections" and report.job == job
    assert job.result["scored_boxes"] == [4, 3]  # on the set's keyframes
    assert report_a.per_class["1"]["detections"] == 4
    assert report_a.snapshot_hash == report_b.snapshot_hash and len(report_a.snapshot_hash) == 64
    assert report_a.params["role"] == "baseline"
    assert report_b.params["baseline_report"] == report_a.pk


def test_the_reports_agree_with_the_official_rules_run_on_the_exported_csvs(  # type: ignore[no-untyped-def]
    scenario, tmp_path
) -> None:
    from annotator.selectors import ava_export_lines
    from inference.ava import write_excluded, write_labelmap
    from inference.evaluation import evaluate_files

    dataset = scenario["dataset"]
    job = run(
        evaluation_start(dataset=dataset, model_version=scenario["b"], baseline=scenario["a"])
    )
    gt = tmp_path / "gt.csv"
    gt.write_text("".join(ava_export_lines(dataset=dataset)))
    labelmap = tmp_path / "labelmap.pbtxt"
    write_labelmap(labelmap, dataset_labelmap(dataset=dataset))
    excluded = tmp_path / "excluded.csv"
    write_excluded(excluded, [("clip-1", 904)])
    for pk in job.result["reports"]:
        report = EvaluationReport.objects.get(pk=pk)
        detections = tmp_path / f"{pk}.csv"
        lines = ava_export_lines(
            dataset=dataset, source="model", model_version=report.model_version, reviewed_only=True
        )
        detections.write_text("".join(lines))
        expected = evaluate_files(gt, detections, labelmap, excluded)
        assert report.mean_ap == pytest.approx(expected.mean_ap, abs=1e-6)
        for action_id, ap in expected.ap.items():
            assert report.per_class[str(action_id)]["ap"] == pytest.approx(ap, abs=1e-6)


def test_batches_of_any_size_give_the_same_reports(scenario, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from annotator.services import evaluation

    monkeypatch.setattr(evaluation, "BATCH_BOXES", 1)  # every box its own batch
    job = run(
        evaluation_start(
            dataset=scenario["dataset"], model_version=scenario["b"], baseline=scenario["a"]
        )
    )
    for pk, expected in zip(job.result["reports"], (AP_A, AP_B), strict=True):
        report = EvaluationReport.objects.get(pk=pk)
        assert {int(k): v["ap"] for k, v in report.per_class.items()} == pytest.approx(expected)


def test_the_snapshot_hash_follows_the_ground_truth_only(scenario) -> None:  # type: ignore[no-untyped-def]
    def snapshot() -> str:
        job = run(evaluation_start(dataset=scenario["dataset"], model_version=scenario["a"]))
        assert job.status == Job.Status.SUCCEEDED, job.message
        return EvaluationReport.objects.get(pk=job.result["reports"][0]).snapshot_hash

    first = snapshot()
    PersonBox.objects.filter(model_scores__model_version=scenario["a"]).update(detector_score=0.5)
    unreviewed = scenario["keyframes"][4]
    BoxLabel.objects.filter(box__keyframe=unreviewed).delete()
    assert snapshot() == first
    scenario["g1"].labels.filter(action__action_id=TALK).update(state="rejected")
    assert snapshot() != first


def test_gold_only_and_chosen_videos_narrow_the_set(scenario) -> None:  # type: ignore[no-untyped-def]
    kf1, kf2 = scenario["keyframes"][:2]
    Keyframe.objects.filter(pk=kf2.pk).update(gold=True)
    job = run(
        evaluation_start(
            dataset=scenario["dataset"],
            model_version=scenario["b"],
            videos=[scenario["video"]],
            gold_only=True,
        )
    )
    report = EvaluationReport.objects.get(pk=job.result["reports"][0])
    assert job.result["keyframes"] == 1
    assert {k: v["gt_count"] for k, v in report.per_class.items()} == {"1": 0, "2": 0, "3": 1}
    assert report.per_class["1"]["ap"] is None  # no GT: no AP, left out of the mean
    assert report.mean_ap == 1.0  # hold .9 TP; the walk .65 on the same box has no GT
    assert report.params["gold_only"] is True

    Keyframe.objects.update(gold=False)
    with pytest.raises(ApplicationError, match="evaluation set is empty"):
        evaluation_start(dataset=scenario["dataset"], model_version=scenario["b"], gold_only=True)


def test_ground_truth_boxes_take_the_scores_at_their_place(scenario) -> None:  # type: ignore[no-untyped-def]
    job = run(
        evaluation_start(
            dataset=scenario["dataset"], model_version=scenario["b"], box_source="ground_truth"
        )
    )
    report = EvaluationReport.objects.get(pk=job.result["reports"][0])
    assert report.box_source == "ground_truth"
    # B's boxes sit exactly on G1, G2, G3, so the APs are those of its detections.
    assert report.per_class["1"]["ap"] == pytest.approx(AP_B[WALK])

    # Model A has nothing at G2 (its box there is off by 0.02): the job names what is missing.
    job = run(
        evaluation_start(
            dataset=scenario["dataset"], model_version=scenario["a"], box_source="ground_truth"
        )
    )
    assert job.status == Job.Status.FAILED
    assert job.message.startswith(
        "model version 'slow-only' lacks its scores on the ground-truth boxes of 1 of the 3 "
        "keyframes in the evaluation set (e.g. clip-1@901); it has no checkpoint to compute them "
        "with: import its predictions"
    )
    assert not EvaluationReport.objects.filter(job=job).exists()


def test_a_version_without_scores_on_part_of_the_set_fails_with_the_count(scenario) -> None:  # type: ignore[no-untyped-def]
    PersonBox.objects.filter(
        model_version=scenario["b"], keyframe=scenario["keyframes"][1]
    ).delete()
    job = run(
        evaluation_start(
            dataset=scenario["dataset"], model_version=scenario["b"], baseline=scenario["a"]
        )
    )
    assert job.status == Job.Status.FAILED
    assert job.message == (
        "model version 'slowfast' lacks its scores on the person boxes of 1 of the 3 keyframes "
        "in the evaluation set (e.g. clip-1@902); it has no checkpoint to compute them with: "
        "import its predictions"
    )


def test_a_cancel_asked_for_while_it_reads_stops_it_before_any_report(
    scenario, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from annotator.services import evaluation

    job = evaluation_start(dataset=scenario["dataset"], model_version=scenario["a"])
    read = evaluation._ground_truth

    def read_then_cancel(*args):  # type: ignore[no-untyped-def]
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)  # as job_cancel does
        return read(*args)

    monkeypatch.setattr(evaluation, "_ground_truth", read_then_cancel)
    job = run(job)
    assert job.status == Job.Status.CANCELLED
    assert not EvaluationReport.objects.exists()


def test_a_second_attempt_replaces_the_reports_of_the_first(scenario) -> None:  # type: ignore[no-untyped-def]
    job = run(evaluation_start(dataset=scenario["dataset"], model_version=scenario["a"]))
    first = job.result["reports"]
    Job.objects.filter(pk=job.pk).update(status=Job.Status.QUEUED)  # as the sweep re-queues it
    job = run(job)
    assert EvaluationReport.objects.filter(job=job).count() == 1
    assert job.result["reports"] != first


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"box_source": "pixels"}, "box_source = 'pixels'"),
        ({"baseline": "b"}, "the same version"),
        ({"model_version": "other"}, "belongs to another dataset"),
    ],
)
def test_start_refuses_bad_input(scenario, change, message) -> None:  # type: ignore[no-untyped-def]
    other = ModelVersion.objects.create(dataset=Dataset.objects.create(name="other"), name="x")
    arguments = {"dataset": scenario["dataset"], "model_version": scenario["b"]}
    for key, value in change.items():
        arguments[key] = {"b": scenario["b"], "other": other}.get(value, value)
    with pytest.raises(ApplicationError, match=message):
        evaluation_start(**arguments)
    assert not Job.objects.exists()


# --- REST -------------------------------------------------------------------------------------


def test_it_starts_over_rest_and_serves_report_figure_and_downloads(  # type: ignore[no-untyped-def]
    scenario, manager_client, reviewer_client, django_assert_max_num_queries
) -> None:
    url = f"/api/v1/datasets/{scenario['dataset'].pk}/evaluate/"
    body = {"model_version": scenario["b"].pk, "baseline": scenario["a"].pk}
    assert reviewer_client.post(url, body, format="json").status_code == 403
    response = manager_client.post(url, body, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["job_type"] == "evaluate" and response.json()["status"] == "queued"
    job = run(Job.objects.get(pk=response.json()["id"]))
    a, b = job.result["reports"]

    report = reviewer_client.get(f"/api/v1/evaluation-reports/{b}/").json()
    assert report["mean_ap"] == pytest.approx(sum(AP_B.values()) / 3)
    assert report["per_class"]["1"]["gt_count"] == 2

    with django_assert_max_num_queries(4):
        figure = reviewer_client.get(f"/api/v1/evaluation-reports/{b}/figure/?baseline={a}").json()
    assert [row["action_id"] for row in figure["classes"]] == [WALK, TALK, HOLD]  # GT 2, 1, 1
    assert figure["report"]["model_name"] == "slowfast"
    assert figure["baseline"]["mean_ap"] == pytest.approx(sum(AP_A.values()) / 3)
    assert figure["same_snapshot"] is True
    walk = figure["classes"][0]
    assert walk["gain"] == pytest.approx(AP_B[WALK] - AP_A[WALK])
    # three classes, all gains positive: all among the 5 largest of both kinds
    assert all(row["absolute_mark"] and row["relative_mark"] for row in figure["classes"])

    svg = reviewer_client.get(f"/api/v1/evaluation-reports/{b}/figure.svg?baseline={a}")
    assert svg["Content-Type"] == "image/svg+xml"
    assert svg["Content-Disposition"] == f'inline; filename="report-{b}-vs-{a}.svg"'
    tree = ET.fromstring(svg.content)
    pairs = tree.findall(".//{http://www.w3.org/2000/svg}g[@class='pair']")
    assert [g.get("data-action-id") for g in pairs] == ["1", "2", "3"]

    png = reviewer_client.get(f"/api/v1/evaluation-reports/{b}/figure.png?baseline={a}&download")
    assert png["Content-Type"] == "image/png" and png["Content-Disposition"].startswith("attach")
    assert Image.open(io.BytesIO(png.content)).size[0] >= 1000

    table = reviewer_client.get(f"/api/v1/evaluation-reports/{b}/figure.csv?baseline={a}")
    rows = list(csv.DictReader(io.StringIO(table.content.decode())))
    assert [row["name"] for row in rows] == ["walk", "talk to (a person)", "hold (an object)"]
    assert float(rows[0]["ap"]) == pytest.approx(AP_B[WALK])
    assert float(rows[0]["baseline_ap"]) == pytest.approx(AP_A[WALK])
    single = reviewer_client.get(f"/api/v1/evaluation-reports/{a}/figure.csv").content.decode()
    assert single.splitlines()[0] == "action_id,name,action_type,gt_count,ap"


def test_rest_input_errors_are_400_naming_the_field(scenario, manager_client) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/v1/datasets/{scenario['dataset'].pk}/evaluate/"
    other_dataset = Dataset.objects.create(name="other")
    stranger = ModelVersion.objects.create(dataset=other_dataset, name="x")
    far_video = Video.objects.create(dataset=other_dataset, video_id="far")
    cases = [
        ({"model_version": stranger.pk}, "model_version"),
        ({"model_version": scenario["b"].pk, "baseline": stranger.pk}, "baseline"),
        ({"model_version": scenario["b"].pk, "videos": [far_video.pk]}, "videos"),
        ({"model_version": scenario["b"].pk, "box_source": "x"}, "box_source"),
    ]
    for body, field in cases:
        response = manager_client.post(url, body, format="json")
        assert response.status_code == 400 and field in response.json(), (body, response.json())
    assert not Job.objects.exists()

    report = EvaluationReport.objects.create(
        dataset=scenario["dataset"], model_version=scenario["a"], snapshot_hash="0", per_class={}
    )
    elsewhere = EvaluationReport.objects.create(
        dataset=other_dataset, model_version=stranger, snapshot_hash="0", per_class={}
    )
    for query, status in [
        (f"?baseline={elsewhere.pk}", 400),
        ("?baseline=999999", 400),
        ("?baseline=x", 400),
        ("", 200),
    ]:
        for suffix in ("figure/", "figure.svg", "figure.png", "figure.csv"):
            response = manager_client.get(f"/api/v1/evaluation-reports/{report.pk}/{suffix}{query}")
            assert response.status_code == status, (suffix, query)
    assert manager_client.get("/api/v1/evaluation-reports/999999/figure.svg").status_code == 404


@pytest.mark.integration
def test_a_real_worker_runs_the_job_on_the_default_queue(  # type: ignore[no-untyped-def]
    celery_worker, scenario, manager_client
) -> None:
    response = manager_client.post(
        f"/api/v1/datasets/{scenario['dataset'].pk}/evaluate/",
        {"model_version": scenario["b"].pk, "baseline": scenario["a"].pk},
        format="json",
    )
    assert response.status_code == 202
    job_id = response.json()["id"]

    def finished() -> Job | None:
        job = Job.objects.get(pk=job_id)
        return job if job.status not in Job.ACTIVE else None

    job = wait_for(finished, timeout=120)
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.worker  # a worker process claimed it
    means = [EvaluationReport.objects.get(pk=pk).mean_ap for pk in job.result["reports"]]
    assert means == pytest.approx([sum(AP_A.values()) / 3, sum(AP_B.values()) / 3])
    assert not math.isnan(means[0])
