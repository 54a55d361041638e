"""Datasets and their taxonomies (label maps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction

from annotator.errors import ApplicationError
from annotator.models import Action, ActionType, AuditEvent, Dataset, ModelVersion
from annotator.services.uncertainty import uncertainty_recompute_start
from annotator.validation import text_check

# The taxonomy a new installation starts with; the product's own copy, not ../shared.
AVA_LABELMAP = (
    Path(__file__).resolve().parents[2] / "inference" / "data" / "ava_action_list_v2.2.pbtxt"
)
AVA_EVALUATED_LABELMAP = AVA_LABELMAP.with_name("ava_action_list_v2.2_for_activitynet_2019.pbtxt")
DEFAULT_DATASET = "AVA v2.2"
NAME_LENGTH = Action._meta.get_field("name").max_length


def labelmap_import(
    *,
    dataset_name: str,
    path: str | Path,
    evaluated_path: str | Path | None = None,
    display_name: str | None = None,
) -> Dataset:
    """Create or update a dataset's actions from a pbtxt label map (either official form).

    With `evaluated_path`, only the actions listed there are marked evaluated (AVA's 60 of 80).
    """
    from inference.ava import read_labelmap

    try:
        labels = read_labelmap(path, source=display_name)
        evaluated_ids = set(read_labelmap(evaluated_path).ids) if evaluated_path else None
    except (OSError, ValueError) as error:
        message = str(error)
        if display_name:  # an upload is stored under a temporary name: show the user's
            message = message.replace(str(path), display_name)
        raise ApplicationError(message) from error
    text_check(field="name", value=dataset_name)
    source = display_name or str(path)
    for label in labels.actions:
        if len(label.name) > NAME_LENGTH:
            raise ApplicationError(
                f"{source}: label_id {label.id}: field 'name' = {label.name[:40]!r}...: at most "
                f"{NAME_LENGTH} characters"
            )
    with transaction.atomic():
        dataset, _ = Dataset.objects.get_or_create(name=dataset_name)
        for label in labels.actions:
            action_type = label.type if label.type in ActionType.values else ActionType.OTHER
            Action.objects.update_or_create(
                dataset=dataset,
                action_id=label.id,
                defaults={
                    "name": label.name,
                    "action_type": action_type,
                    "evaluated": evaluated_ids is None or label.id in evaluated_ids,
                },
            )
    return dataset


def dataset_create_default() -> Dataset:
    """The AVA v2.2 dataset with its 80 actions, 60 of them evaluated (idempotent)."""
    return labelmap_import(
        dataset_name=DEFAULT_DATASET, path=AVA_LABELMAP, evaluated_path=AVA_EVALUATED_LABELMAP
    )


def rules_validate(rules: Any) -> dict[str, dict[str, int]]:
    """Review rules as given, or an ApplicationError naming the bad entry."""
    if not isinstance(rules, dict):
        raise ApplicationError(
            f"review_rules = {rules!r}: must be an object of action type -> {{min, max}}"
        )
    for action_type, bounds in rules.items():
        if action_type not in ActionType.values:
            raise ApplicationError(
                f"review_rules: unknown action type {action_type!r}; one of {ActionType.values}"
            )
        if not isinstance(bounds, dict) or set(bounds) - {"min", "max"}:
            raise ApplicationError(
                f"review_rules[{action_type!r}] = {bounds!r}: must be {{'min': n, 'max': n}}"
            )
        for key, value in bounds.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ApplicationError(
                    f"review_rules[{action_type!r}][{key!r}] = {value!r}: must be an integer >= 0"
                )
        if bounds.get("max", 10**9) < bounds.get("min", 0):
            raise ApplicationError(
                f"review_rules[{action_type!r}]: min {bounds['min']} is above max {bounds['max']}"
            )
    return rules


def dataset_create(*, name: str, description: str = "", review_rules: Any = None) -> Dataset:
    """A new dataset without actions (import a label map next); AVA review rules unless given."""
    text_check(field="name", value=name)
    text_check(field="description", value=description, multiline=True)
    if Dataset.objects.filter(name=name).exists():
        raise ApplicationError(f"a dataset named {name!r} exists already")
    fields: dict[str, Any] = {"name": name, "description": description}
    if review_rules is not None:
        fields["review_rules"] = rules_validate(review_rules)
    return Dataset.objects.create(**fields)


def dataset_update(*, dataset: Dataset, user: Any = None, **fields: Any) -> Dataset:
    """Change a dataset's description, review rules or active model version."""
    if "review_rules" in fields:
        fields["review_rules"] = rules_validate(fields["review_rules"])
    for name in ("name", "description"):
        if name in fields:
            text_check(field=name, value=fields[name], multiline=name == "description")
    version: ModelVersion | None | object = ...
    if "active_model_version" in fields:
        version_id = fields.pop("active_model_version")
        version = None
        if version_id is not None:
            version = ModelVersion.objects.filter(pk=version_id, dataset=dataset).first()
            if version is None:
                raise ApplicationError(
                    f"active_model_version = {version_id!r}: no such model version in this dataset"
                )
    with transaction.atomic():
        for name, value in fields.items():
            setattr(dataset, name, value)
        if fields:  # only these columns: the active model version changes below, audited
            dataset.save(update_fields=list(fields))
        # The same checked, audited promotion as the activate endpoint and the admin's action.
        if isinstance(version, ModelVersion):
            dataset = dataset_activate_model(model_version=version, user=user)
        elif version is None and dataset.active_model_version_id is not None:
            dataset = _active_model_set(dataset=dataset, model_version=None, user=user)
    return dataset


def dataset_activate_model(*, model_version: ModelVersion, user: Any = None) -> Dataset:
    """Make a model version the one pre-annotation uses for its dataset (audited)."""
    if not model_version.checkpoint:
        raise ApplicationError(
            f"model version {model_version.name!r} has no checkpoint (imported predictions only)"
        )
    return _active_model_set(dataset=model_version.dataset, model_version=model_version, user=user)


def _active_model_set(
    *, dataset: Dataset, model_version: ModelVersion | None, user: Any
) -> Dataset:
    with transaction.atomic():
        before = Dataset.objects.select_for_update().get(pk=dataset.pk).active_model_version_id
        # The caller's object (often `model_version.dataset`) shows the change too.
        dataset.active_model_version = model_version
        dataset.save(update_fields=["active_model_version"])
        AuditEvent.objects.create(
            user=user if getattr(user, "pk", None) else None,
            verb="dataset.activate_model",
            object_type="dataset",
            object_id=dataset.pk,
            before={"active_model_version": before},
            after={"active_model_version": dataset.active_model_version_id},
        )
        if before != dataset.active_model_version_id:  # the queue's order follows the version
            uncertainty_recompute_start(
                dataset=dataset, user=user if getattr(user, "pk", None) else None
            )
    return dataset


def labelmap_upload(*, dataset: Dataset, upload: Any) -> Dataset:
    """Import an uploaded pbtxt label map into an existing dataset."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pbtxt") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
        handle.flush()
        return labelmap_import(
            dataset_name=dataset.name, path=handle.name, display_name=Path(upload.name).name
        )
