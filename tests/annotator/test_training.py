"""Training jobs: REST start, frozen snapshot, a real worker training the small preset at toy size
on a synthetic dataset ingested and imported into the product, NaN, cancel, archive."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
from django.core.files import File

from annotator.models import AuditEvent, BoxLabel, EvaluationReport, Job, ModelVersion, Video
from annotator.services.datasets import dataset_activate_model, dataset_create, labelmap_import
from annotator.services.imports import ava_import
from annotator.services.ingest import video_ingest
from annotator.services.model_versions import model_version_register
from annotator.services.training import SNAPSHOT_FILES, training_dir
from tests.conftest import WorkerProcess, wait_for

DONE = ("succeeded", "failed", "cancelled")
# One thread (the shared 2-core machine runs torch far slower with more), one loader worker
# process (started from the Celery pool's daemonic child), a checkpoint after every step (what
# cancel keeps and a lost worker resumes from).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "TRAIN_LOADER_WORKERS": "1", "TRAIN_CHECKPOINT_EVERY": "1"}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 5 s synthetic videos at 96x64 (two train, one val), rendered by the generator."""
    from inference.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, videos=3, val_videos=1, seconds=5, size="96x64", people=(1, 2), seed=1)
    return root


@pytest.fixture(scope="module")
def toy_base(synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small preset at a 64-pixel test scale with the synthetic label map."""
    import torch

    from inference.checkpoints import read_labelmap, save_checkpoint
    from inference.models import build_model, preset

    label_map = read_labelmap(synth / "action_list.pbtxt")
    torch.manual_seed(0)
    config = dataclasses.replace(preset("small"), crop_size=64, num_classes=len(label_map.actions))
    path = tmp_path_factory.mktemp("base") / "toy.pt"
    save_checkpoint(path, build_model(config), label_map=label_map)
    return path


@pytest.fixture
def product(db, synth, toy_base, media_root):  # type: ignore[no-untyped-def]
    """The synthetic dataset in the product: label map, ingested videos, imported ground truth
    (keyframes reviewed) and the toy base version, active."""
    dataset = dataset_create(name="synthetic")
    labelmap_import(dataset_name=dataset.name, path=synth / "action_list.pbtxt")
    for path in sorted((synth / "videos").iterdir()):
        video = Video(dataset=dataset, video_id=path.stem)
        with path.open("rb") as handle:
            video.file.save(path.name, File(handle), save=True)
        video_ingest(video_id=video.pk)
    for split in ("train", "val"):
        ava_import(dataset=dataset, path=synth / f"{split}.csv", kind="gt")
    base = model_version_register(dataset=dataset, path=toy_base, name="toy-base")
    dataset_activate_model(model_version=base)
    dataset.refresh_from_db()
    return dataset


def splits(dataset) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    ids = list(dataset.videos.order_by("video_id").values_list("video_id", flat=True))
    return {"train_videos": ids[:-1], "val_videos": ids[-1:]}


def start(client, dataset, **changes):  # type: ignore[no-untyped-def]
    body = {
        **splits(dataset),
        "base_version": dataset.active_model_version_id,
        "epochs": 1,
        "batch_size": 2,
        "lr": 0.01,
        **changes,
    }
    return client.post(f"/api/v1/datasets/{dataset.pk}/train/", body, format="json")


def finished(job_id: int, timeout: float = 600.0) -> Job:
    return wait_for(lambda: Job.objects.filter(pk=job_id, status__in=DONE).first(), timeout=timeout)


def files_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in SNAPSHOT_FILES:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    return digest.hexdigest()


# --- start: no worker (the job is never sent: the test's transaction never commits) ---------


def test_the_services_training_defaults_are_the_libraries() -> None:
    from annotator.services import training
    from inference.train import TrainConfig

    defaults = TrainConfig()
    assert (
        defaults.epochs,
        defaults.lr,
        defaults.batch_size,
    ) == (training.DEFAULT_EPOCHS, training.DEFAULT_LR, training.DEFAULT_BATCH_SIZE)


def test_it_freezes_the_ground_truth_with_a_training_version(product, manager_client, manager):  # type: ignore[no-untyped-def]
    response = start(manager_client, product)

    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.job_type, job.status) == ("train", "queued")
    version = ModelVersion.objects.get(pk=job.params["model_version"])
    assert version.status == "training" and version.parent == product.active_model_version
    assert version.created_by == manager
    assert version.hyperparameters["epochs"] == 1 and version.hyperparameters["lr"] == 0.01
    folder = training_dir(version.pk)
    assert version.training_snapshot_hash == files_sha256(folder)
    train_csv = (folder / "train.csv").read_text()
    val_csv = (folder / "val.csv").read_text()
    train_ids, val_ids = splits(product)["train_videos"], splits(product)["val_videos"]
    assert {line.split(",")[0] for line in train_csv.splitlines()} == set(train_ids)
    assert {line.split(",")[0] for line in val_csv.splitlines()} == set(val_ids)
    assert AuditEvent.objects.filter(verb="model_version.train", object_id=version.pk).exists()

    # Later edits change the export, never the frozen snapshot.
    BoxLabel.objects.filter(box__keyframe__video__video_id=train_ids[0]).delete()
    export = manager_client.get(f"/api/v1/datasets/{product.pk}/export/")
    exported = b"".join(export.streaming_content).decode()
    assert exported != train_csv + val_csv
    assert (folder / "train.csv").read_text() == train_csv
    version.refresh_from_db()
    assert version.training_snapshot_hash == files_sha256(folder)


def test_it_refuses_reviewers_and_a_video_in_both_splits(product, reviewer_client, manager_client):  # type: ignore[no-untyped-def]
    assert start(reviewer_client, product).status_code == 403
    video_id = splits(product)["val_videos"][0]
    response = start(manager_client, product, train_videos=[video_id])
    assert response.status_code == 400 and "both splits" in response.json()["detail"]
    assert not ModelVersion.objects.filter(status="training").exists()


def test_it_archives_an_inactive_version_and_refuses_the_active_one(product, manager_client):  # type: ignore[no-untyped-def]
    active = product.active_model_version
    refused = manager_client.post(f"/api/v1/model-versions/{active.pk}/archive/")
    assert refused.status_code == 409
    version = ModelVersion.objects.create(dataset=product, name="old", status="ready")
    response = manager_client.post(f"/api/v1/model-versions/{version.pk}/archive/")
    assert response.status_code == 200 and response.json()["status"] == "archived"
    event = AuditEvent.objects.get(verb="model_version.archive", object_id=version.pk)
    assert (event.before, event.after) == ({"status": "ready"}, {"status": "archived"})


# --- with a real worker ---------------------------------------------------------------------


@pytest.fixture
def trainer(transactional_db, use_redis, media_root, tmp_path):  # type: ignore[no-untyped-def]
    gate = tmp_path / "gate"
    gate.mkdir()
    worker = WorkerProcess(
        use_redis, str(media_root), JOB_PROGRESS_GATE=str(gate), **WORKER_ENV
    ).start()
    worker.gate = gate  # type: ignore[attr-defined]
    yield worker
    worker.stop()


@pytest.mark.integration
def test_a_worker_trains_a_version_with_lineage_and_starts_its_evaluation(
    trainer, product, manager_client, manager
):  # type: ignore[no-untyped-def]
    base = product.active_model_version
    response = start(manager_client, product)
    assert response.status_code == 202, response.content

    job = finished(response.json()["id"])

    assert job.status == "succeeded", job.message
    version = ModelVersion.objects.get(pk=job.result["model_version"])
    assert version.status == "ready" and version.parent == base and version.created_by == manager
    checkpoint = Path(version.checkpoint.path)
    assert checkpoint.is_file() and checkpoint.parent == training_dir(version.pk)
    assert version.sha256 == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert version.training_snapshot_hash == files_sha256(training_dir(version.pk))
    assert (
        version.metrics["val_map"] is not None and version.metrics["steps"] == job.result["steps"]
    )
    steps = [point["step"] for point in job.result["curve"]]
    assert steps == list(range(1, job.result["steps"] + 1))
    assert all(point["lr"] > 0 for point in job.result["curve"])
    evaluation = Job.objects.get(pk=job.result["evaluation_job"])
    assert evaluation.job_type == "evaluate"
    assert evaluation.params["model_versions"] == [base.pk, version.pk]
    assert evaluation.params["box_source"] == "ground_truth"
    assert evaluation.params["videos"] == [
        product.videos.get(video_id=splits(product)["val_videos"][0]).pk
    ]
    evaluation = finished(evaluation.pk)  # it scores both versions (pre-annotating first)
    assert evaluation.status == "succeeded", evaluation.message
    reports = EvaluationReport.objects.filter(pk__in=evaluation.result["reports"])
    assert sorted(reports.values_list("model_version", flat=True)) == sorted([base.pk, version.pk])
    # The dashboard opens the new version's report against its parent's.
    new_report = reports.get(model_version=version)
    assert new_report.params["baseline_report"] == reports.get(model_version=base).pk
    product.refresh_from_db()
    assert product.active_model_version == base  # promotion is a manager's decision

    promoted = manager_client.post(f"/api/v1/model-versions/{version.pk}/activate/")
    assert promoted.status_code == 200 and promoted.json()["active_model_version"] == version.pk
    rolled_back = manager_client.post(f"/api/v1/model-versions/{base.pk}/activate/")
    assert rolled_back.json()["active_model_version"] == base.pk
    events = AuditEvent.objects.filter(verb="dataset.activate_model").order_by("id")
    assert [(e.before, e.after) for e in events][-2:] == [
        ({"active_model_version": base.pk}, {"active_model_version": version.pk}),
        ({"active_model_version": version.pk}, {"active_model_version": base.pk}),
    ]


@pytest.mark.integration
def test_a_nan_loss_fails_the_job_and_leaves_the_active_version(trainer, product, manager_client):  # type: ignore[no-untyped-def]
    active = product.active_model_version_id
    response = start(manager_client, product, lr=1e30)

    job = finished(response.json()["id"])

    assert job.status == "failed" and "loss is" in job.message, job.message
    version = ModelVersion.objects.get(pk=job.params["model_version"])
    assert version.status == "failed" and not version.checkpoint
    product.refresh_from_db()
    assert product.active_model_version_id == active
    assert not Job.objects.filter(job_type="evaluate").exists()


@pytest.mark.integration
def test_cancel_stops_at_the_next_step_and_keeps_the_last_checkpoint(
    trainer, product, manager_client
):  # type: ignore[no-untyped-def]
    from inference.checkpoints import load_checkpoint

    gate = trainer.gate
    (gate / "hold").write_text("epoch 1/1 step 2/")
    response = start(manager_client, product)
    job_id = response.json()["id"]
    wait_for(lambda: (gate / "reached").is_file(), timeout=600, interval=0.05)

    assert manager_client.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 200
    (gate / "release").write_text("")
    job = finished(job_id)

    assert job.status == "cancelled", job.message
    version = ModelVersion.objects.get(pk=job.params["model_version"])
    assert version.status == "failed" and version.metrics["stopped"] == "cancelled"
    kept = Path(trainer.env["MEDIA_ROOT"]) / version.metrics["last_checkpoint"]
    assert load_checkpoint(kept)["training"]["step"] == 1  # the step before the cancel
    assert [point["step"] for point in job.result["curve"]] == [1, 2]


@pytest.mark.integration
def test_a_worker_killed_mid_training_is_replaced_and_the_job_resumes_from_its_checkpoint(
    transactional_db, use_redis, media_root, product, manager_client, tmp_path
):  # type: ignore[no-untyped-def]
    from annotator.services.jobs import jobs_sweep

    gate = tmp_path / "gate"
    gate.mkdir()
    env = {
        **WORKER_ENV,
        "JOB_LEASE_SECONDS": "3",
        "JOB_HEARTBEAT_SECONDS": "1",
        "JOB_PROGRESS_GATE": str(gate),
    }
    (gate / "hold").write_text("epoch 1/1 step 2/")  # after the checkpoint of step 1
    first = WorkerProcess(use_redis, str(media_root), **env).start()
    second = None
    try:
        job_id = start(manager_client, product).json()["id"]
        wait_for(lambda: (gate / "reached").is_file(), timeout=600, interval=0.05)
        first.kill()
        (gate / "hold").unlink()  # the second worker runs through
        second = WorkerProcess(use_redis, str(media_root), **env).start()
        assert wait_for(jobs_sweep, timeout=30) == [job_id]  # what beat does once the lease ends
        job = finished(job_id)
    finally:
        first.kill()
        if second is not None:
            second.stop()

    assert job.status == "succeeded", job.message
    assert job.attempts == 2 and job.result["resumed_from_step"] == 1
    assert [point["step"] for point in job.result["curve"]] == list(
        range(1, job.result["steps"] + 1)
    )
    version = ModelVersion.objects.get(pk=job.result["model_version"])
    assert version.status == "ready" and Path(version.checkpoint.path).is_file()
