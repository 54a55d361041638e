"""The stored per-keyframe uncertainty behind the least-confident-first queue: written with the
active version's scores, recomputed by a job when the dataset's active version changes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from django.db import transaction

from annotator.models import BoxScore, Dataset, Job, Keyframe
from annotator.services.jobs import JobContext, job_create
from inference.uncertainty import score_uncertainty

BATCH = 500  # keyframes per transaction of the recompute job


def keyframes_uncertainty_update(
    *, keyframe_ids: Iterable[int], model_version_id: int | None
) -> int:
    """Store each keyframe's uncertainty under a version's scores (null where it has none, or
    when there is no version); returns the number of keyframes written."""
    ids = list(keyframe_ids)
    vectors: dict[int, list[np.ndarray]] = {pk: [] for pk in ids}
    if model_version_id is not None:
        rows = BoxScore.objects.filter(
            box__keyframe_id__in=ids, model_version_id=model_version_id
        ).values_list("box__keyframe_id", "scores")
        for keyframe_id, scores in rows:
            vectors[keyframe_id].append(np.frombuffer(bytes(scores), dtype=np.float16))
    with transaction.atomic():
        for pk, found in vectors.items():
            value = score_uncertainty(found) if found else None
            Keyframe.objects.filter(pk=pk).update(uncertainty=value)
    return len(ids)


def uncertainty_recompute_start(*, dataset: Dataset, user: Any = None) -> Job | None:
    """Queue the recompute of a dataset's uncertainties (default queue); None when the dataset
    has no keyframe yet."""
    if not Keyframe.objects.filter(video__dataset=dataset).exists():
        return None
    return job_create(
        job_type=Job.Type.UNCERTAINTY, params={"dataset": dataset.pk}, user=user, dataset=dataset
    )


def dataset_uncertainty_run(*, context: JobContext) -> dict[str, Any]:
    """Recompute every keyframe's uncertainty of the job's dataset under its active version, in
    batches; a re-delivered job rewrites the same values."""
    dataset = Dataset.objects.get(pk=context.job.params["dataset"])
    version_id = dataset.active_model_version_id
    ids = list(
        Keyframe.objects.filter(video__dataset=dataset).order_by("pk").values_list("pk", flat=True)
    )
    for start in range(0, len(ids), BATCH):
        keyframes_uncertainty_update(
            keyframe_ids=ids[start : start + BATCH], model_version_id=version_id
        )
        context.progress((start + BATCH) / max(len(ids), 1), "recomputing uncertainty")
        context.check_cancel()
    return {"keyframes": len(ids), "model_version": version_id}
