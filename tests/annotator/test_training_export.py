"""Training bundles of a dataset: the command, the REST job with a real worker, and the tar."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from django.core.files import File
from django.core.management import CommandError, call_command

from annotator.models import Action, BoxLabel, Job, Keyframe, PersonBox, Video
from tests.conftest import wait_for
from tests.generated import write_index_video
from tests.inference.test_bundle import (
    mmaction2_annotations,
    mmaction2_frame,
    pyslowfast_boxes,
    pyslowfast_frame_lists,
    pyslowfast_keyframes,
    shown_index,
)

FPS = 30


def ingested(dataset, directory: Path, video_id: str, seconds: int) -> Video:  # type: ignore[no-untyped-def]
    """A 30 fps index video of `seconds`, ingested (keyframes at 1 .. seconds - 1)."""
    from annotator.services.ingest import video_ingest

    path = write_index_video(directory / f"{video_id}.mp4", 30, FPS * seconds)
    video = Video(dataset=dataset, video_id=video_id)
    with path.open("rb") as handle:
        video.file.save(path.name, File(handle), save=True)
    video_ingest(video_id=video.pk)
    video.refresh_from_db()
    return video


def box(keyframe: Keyframe, x1: float, *labels: tuple[int, str, str], **fields) -> PersonBox:  # type: ignore[no-untyped-def]
    """A box at x1 .. x1 + 0.3 with labels (action id, source, state)."""
    person_box = PersonBox.objects.create(
        keyframe=keyframe, x1=x1, y1=0.1, x2=x1 + 0.3, y2=0.9, **fields
    )
    for action_id, source, state in labels:
        action = Action.objects.get(dataset=keyframe.video.dataset, action_id=action_id)
        BoxLabel.objects.create(box=person_box, action=action, source=source, state=state)
    return person_box


def reviewed(video: Video, timestamp: int, **fields) -> Keyframe:  # type: ignore[no-untyped-def]
    keyframe = Keyframe.objects.get(video=video, timestamp=timestamp)
    Keyframe.objects.filter(pk=keyframe.pk).update(status=Keyframe.Status.REVIEWED, **fields)
    keyframe.refresh_from_db()
    return keyframe


@pytest.fixture
def scenario(ava_dataset, media_root, tmp_path):  # type: ignore[no-untyped-def]
    """Train video `walk` and validation video `talk`, 4 s each (keyframes 1, 2, 3)."""
    walk = ingested(ava_dataset, tmp_path, "walk", 4)
    talk = ingested(ava_dataset, tmp_path, "talk", 4)
    first = reviewed(walk, 1)
    box(
        first,
        0.1,
        (12, "human", "accepted"),
        (17, "human", "accepted"),
        source="human",
        person_id=3,
    )
    box(
        first,
        0.5,
        (12, "model", "accepted"),
        source="detector",
        state="accepted",
        detector_score=0.95,
    )
    box(
        first,
        0.6,
        (12, "model", "suggested"),
        source="detector",
        state="rejected",
        detector_score=0.97,
    )
    box(reviewed(walk, 2, excluded=True), 0.1, (12, "human", "accepted"), source="human")
    unreviewed = Keyframe.objects.get(video=walk, timestamp=3)
    box(unreviewed, 0.1, (12, "human", "accepted"), source="human")
    box(
        reviewed(talk, 1),
        0.2,
        (12, "human", "accepted"),
        (17, "model", "suggested"),
        source="human",
    )
    suggested = reviewed(talk, 2)
    box(suggested, 0.3, (14, "model", "suggested"), source="detector", detector_score=0.99)
    box(reviewed(talk, 3), 0.4, (1, "import", "accepted"), source="import", person_id=5)
    return {"dataset": ava_dataset, "walk": walk, "talk": talk}


# (bundle video, bundle second) -> labels of each ground-truth box: file time t is second 902 + t
EXPECTED = {
    "train": {("walk", 903): [[12, 17], [12]]},
    "val": {("talk", 903): [[12]], ("talk", 905): [[1]]},
}


def test_the_command_writes_what_both_tools_read(scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "bundle"
    call_command(
        "export_training",
        str(out),
        dataset=scenario["dataset"].name,
        val_videos="talk",
        short_side=72,
        workers=2,
    )
    notes = out / "annotations"
    for split, expected in EXPECTED.items():
        paths, index = pyslowfast_frame_lists(out / "frame_lists" / f"{split}.csv", out / "frames")
        truth = pyslowfast_boxes(notes / f"ava_{split}_v2.2.csv", "train", is_gt=True)
        keyframes = pyslowfast_keyframes(truth, index)
        names = {i: name for name, i in index.items()}
        assert {(names[v], sec) for v, sec, _ in keyframes} == set(expected)
        for video_idx, sec, frame in keyframes:
            labels = sorted(sorted(b[1]) for b in truth[names[video_idx]][sec])
            assert labels == sorted(expected[names[video_idx], sec])
            assert shown_index(paths[video_idx][frame]) == FPS * (sec - 902)
        records = mmaction2_annotations(notes / f"ava_{split}_v2.2.csv")
        assert set(records) == {f"{v},{s:04d}" for v, s in expected}
        for img_key, entities in records.items():
            assert shown_index(mmaction2_frame(out / "frames", img_key)) == FPS * (
                int(img_key.split(",")[1]) - 902
            )
            assert len({e for _, _, e in entities}) == len(
                expected[tuple([img_key.split(",")[0], int(img_key.split(",")[1])])]
            )
    # testing boxes: the detector's, with scores; PySlowFast's val keeps seconds % 4 == 0
    _, val_index = pyslowfast_frame_lists(out / "frame_lists" / "val.csv", out / "frames")
    predicted = pyslowfast_boxes(notes / "ava_val_predicted_boxes.csv", "val", is_gt=False)
    assert pyslowfast_keyframes(predicted, val_index) == [(0, 904, 120)]
    assert (notes / "ava_train_excluded_timestamps_v2.2.csv").read_text() == "walk,0904\n"
    import pickle

    with (notes / "ava_dense_proposals_train.FAIR.recall_93.9.pkl").open("rb") as handle:
        proposals = pickle.load(handle)
    assert list(proposals) == ["walk,0903"] and proposals["walk,0903"][
        :, 4
    ].tolist() == pytest.approx([0.95, 0.97])
    summary = json.loads((out / "bundle.json").read_text())
    assert len(summary["snapshot_hash"]) == 64
    mapping = (out / "mapping.csv").read_text().splitlines()
    assert "walk,903,walk,1" in mapping and "talk,905,talk,3" in mapping


def test_the_snapshot_hash_follows_the_ground_truth(scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from annotator.services.training_export import training_bundle_spec

    before, _ = training_bundle_spec(dataset=scenario["dataset"], val_videos=["talk"])
    again, _ = training_bundle_spec(dataset=scenario["dataset"], val_videos=["talk"])
    BoxLabel.objects.filter(box__keyframe__video=scenario["talk"], action__action_id=1).update(
        state="rejected"
    )
    after, _ = training_bundle_spec(dataset=scenario["dataset"], val_videos=["talk"])
    assert before.snapshot_hash == again.snapshot_hash != after.snapshot_hash


def test_a_bad_val_videos_id_is_a_clear_error(scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="no video 'nope' in dataset 'AVA"):
        call_command(
            "export_training",
            str(tmp_path / "b"),
            dataset=scenario["dataset"].name,
            val_videos="talk,nope",
        )
    assert not (tmp_path / "b").exists()


def test_a_reviewer_gets_403_and_a_manager_a_queued_job(  # type: ignore[no-untyped-def]
    scenario, reviewer_client, manager_client
) -> None:
    url = f"/api/v1/datasets/{scenario['dataset'].pk}/export-training/"
    assert reviewer_client.post(url, {"val_videos": ["talk"]}, format="json").status_code == 403
    bad = manager_client.post(url, {"val_videos": ["nope"]}, format="json")
    assert bad.status_code == 400 and "'nope'" in bad.json()["detail"]
    assert not Job.objects.filter(job_type=Job.Type.EXPORT_TRAINING).exists()
    first = manager_client.post(url, {"val_videos": ["talk"]}, format="json")
    assert first.status_code == 202 and first.json()["job_type"] == "export_training"
    second = manager_client.post(url, {"val_videos": ["talk"]}, format="json")
    assert second.status_code == 409 and second.json()["job"] == first.json()["id"]


def test_the_rest_job_with_a_real_worker_gives_a_tar(  # type: ignore[no-untyped-def]
    celery_worker, scenario, manager_client, reviewer_client, client, manager
) -> None:
    dataset = scenario["dataset"]
    url = f"/api/v1/datasets/{dataset.pk}/export-training/"

    def export() -> Job:
        response = manager_client.post(
            url, {"val_videos": ["talk"], "short_side": 72}, format="json"
        )
        assert response.status_code == 202, response.json()
        job_id = response.json()["id"]
        job = wait_for(
            lambda: Job.objects.filter(pk=job_id).exclude(status__in=Job.ACTIVE).first(),
            timeout=120,
        )
        assert job.status == Job.Status.SUCCEEDED, job.message
        return job

    job = export()
    assert job.job_type == Job.Type.EXPORT_TRAINING and job.worker
    download = f"{url}{job.pk}/"
    assert reviewer_client.get(download).status_code == 403
    response = manager_client.get(download)
    assert response.status_code == 200 and response["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(b"".join(response.streaming_content))) as archive:
        names = set(archive.getnames())
        top = f"training-{dataset.pk}"
        assert {f"{top}/frame_lists/train.csv", f"{top}/README.md"} <= names
        assert not any("/.stamps" in name for name in names)
        frames = [n for n in names if n.startswith(f"{top}/frames/walk/img_")]
        assert len(frames) == FPS * (905 + 2 - 900)  # to a clip's reach past keyframe 3
        annotations = archive.extractfile(f"{top}/annotations/ava_train_v2.2.csv").read().decode()
    rows = mmaction2_annotations_text(annotations)  # 3 labels on 2 boxes: person 3 and a new id
    assert sorted((row[2], row[6], row[7]) for row in rows) == [
        ("0.100", "12", "3"),
        ("0.100", "17", "3"),
        ("0.500", "12", "4"),
    ]
    assert job.result["frames_written"] == 2 * FPS * 7 and job.result["frames_reused"] == 0
    client.force_login(manager)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'href="{download}"' in page  # the job page links the bundle
    again = export()  # unchanged videos: their frames are reused
    assert again.result["frames_written"] == 0 and again.result["frames_reused"] == 2 * FPS * 7


def mmaction2_annotations_text(text: str) -> list[list[str]]:
    rows = [line.split(",") for line in text.splitlines()]
    assert all(len(row) == 8 and int(row[7]) >= 0 for row in rows)
    return rows
