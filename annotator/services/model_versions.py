"""Model versions from checkpoints: copied into media, hashed, described by their own contents."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction

from annotator.errors import ApplicationError
from annotator.models import Dataset, ModelVersion
from annotator.services.datasets import dataset_activate_model
from inference.hashing import file_sha256


def model_version_register(
    *, dataset: Dataset, path: str | Path, name: str | None = None, activate: bool = False
) -> ModelVersion:
    """Register one of our checkpoints (made by `python -m inference convert` or by training) as a
    ready model version of `dataset`; its label map must name only the dataset's action ids."""
    from inference.checkpoints import config_to_dict, load_checkpoint

    path = Path(path)
    try:
        checkpoint = load_checkpoint(path)
    except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as error:
        raise ApplicationError(f"{path}: not a readable checkpoint ({error})") from error
    config = checkpoint["config"]
    if config.head != "detection":
        raise ApplicationError(
            f"{path}: head {config.head!r}: pre-annotation needs a detection (AVA) model"
        )
    label_map = checkpoint["label_map"].records()
    ids = [label["id"] for label in label_map]
    known = set(dataset.actions.values_list("action_id", flat=True))
    unknown = [action_id for action_id in ids if action_id not in known]
    if unknown:
        raise ApplicationError(
            f"{path}: label map ids {unknown[:20]} are not action ids of dataset "
            f"{dataset.name!r} ({len(unknown)} of {len(ids)})"
        )
    if len(set(ids)) != len(ids):
        raise ApplicationError(f"{path}: the label map lists an action id twice")
    name = name or path.stem
    if ModelVersion.objects.filter(dataset=dataset, name=name).exists():
        raise ApplicationError(f"dataset {dataset.name!r} has a model version named {name!r}")
    sha256 = file_sha256(path)
    preprocess: dict[str, Any] = dict(checkpoint["preprocess"])
    with transaction.atomic():
        version = ModelVersion(
            dataset=dataset,
            name=name,
            status=ModelVersion.Status.READY,
            config=config_to_dict(config),
            label_map=label_map,
            preprocess=preprocess,
            sha256=sha256,
            metrics=dict(checkpoint.get("metrics") or {}),
        )
        with path.open("rb") as handle:
            version.checkpoint.save(f"{dataset.pk}-{sha256[:16]}.pt", File(handle), save=False)
        version.save()
        if activate:
            dataset_activate_model(model_version=version)
    return version


def model_version_checkpoint(*, model_version: ModelVersion) -> Path:
    """The local path of a version's checkpoint, checked against its recorded SHA-256."""
    if not model_version.checkpoint:
        raise ApplicationError(
            f"model version {model_version.name!r} has no checkpoint (imported predictions only)"
        )
    path = Path(model_version.checkpoint.path)
    if not path.is_file():
        raise ApplicationError(f"model version {model_version.name!r}: {path} is missing")
    if model_version.sha256 and file_sha256(path) != model_version.sha256:
        raise ApplicationError(
            f"model version {model_version.name!r}: {path} does not match its SHA-256"
        )
    return path
