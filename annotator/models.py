"""The data model of DESIGN.md: datasets, videos, keyframes, boxes, labels, models, jobs, audit."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ActionType(models.TextChoices):
    PERSON_MOVEMENT = "PERSON_MOVEMENT"
    OBJECT_MANIPULATION = "OBJECT_MANIPULATION"
    PERSON_INTERACTION = "PERSON_INTERACTION"
    OTHER = "OTHER"


# AVA's annotation protocol, checked when a human marks a keyframe reviewed.
AVA_REVIEW_RULES = {
    ActionType.PERSON_MOVEMENT: {"min": 1, "max": 1},
    ActionType.OBJECT_MANIPULATION: {"min": 0, "max": 3},
    ActionType.PERSON_INTERACTION: {"min": 0, "max": 3},
}


def default_review_rules() -> dict[str, dict[str, int]]:
    return {str(key): dict(value) for key, value in AVA_REVIEW_RULES.items()}


class Dataset(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # {"PERSON_MOVEMENT": {"min": 1, "max": 1}, ...}; {} means no rules.
    review_rules = models.JSONField(default=default_review_rules, blank=True)
    active_model_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Action(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="actions")
    action_id = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    action_type = models.CharField(
        max_length=32, choices=ActionType.choices, default=ActionType.OTHER
    )
    evaluated = models.BooleanField(default=True, help_text="In the evaluation subset.")

    class Meta:
        ordering = ["dataset", "action_id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "action_id"], name="action_unique_id"),
        ]

    def __str__(self) -> str:
        return f"{self.action_id}: {self.name}"


class Video(models.Model):
    class Status(models.TextChoices):
        UPLOADED = "uploaded"
        INGESTING = "ingesting"
        READY = "ready"
        FAILED = "failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="videos")
    video_id = models.CharField(max_length=200, help_text="AVA video id, unique per dataset.")
    file = models.FileField(upload_to="videos/", max_length=500, blank=True)
    time_offset = models.FloatField(
        default=0.0, help_text="Source time in seconds at which the file starts (900 for AVA cuts)."
    )
    fps = models.FloatField(null=True, blank=True)
    frame_count = models.PositiveIntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    codec = models.CharField(max_length=50, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED)
    status_message = models.TextField(blank=True)
    keyframe_start = models.IntegerField(null=True, blank=True)
    keyframe_end = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "video_id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "video_id"], name="video_unique_id"),
        ]

    def __str__(self) -> str:
        return self.video_id


class Keyframe(models.Model):
    class Status(models.TextChoices):
        UNREVIEWED = "unreviewed"
        IN_PROGRESS = "in_progress"
        REVIEWED = "reviewed"
        FLAGGED = "flagged"

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="keyframes")
    timestamp = models.IntegerField(help_text="Whole seconds of source time.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNREVIEWED)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lease_until = models.DateTimeField(null=True, blank=True)
    # Who holds the review lease until `lease_until` (annotator.services.review).
    lease_holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    flag_comment = models.TextField(blank=True, help_text="Why a reviewer flagged it.")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, help_text="Optimistic lock.")
    excluded = models.BooleanField(default=False)
    gold = models.BooleanField(default=False, help_text="Reviewed blind, without suggestions.")
    # Sum of p(1 - p) over the active version's scores on its boxes (inference.uncertainty); null
    # until that version scored it. The queue's least-confident-first order reads it.
    uncertainty = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["video", "timestamp"]
        constraints = [
            models.UniqueConstraint(fields=["video", "timestamp"], name="keyframe_unique_time"),
        ]
        indexes = [
            # The queue's head in video and time order, per status and assignee (the take reads
            # the reviewer's keyframes, then the unassigned ones, without sorting the queue).
            models.Index(
                fields=["status", "assignee", "video", "timestamp", "id"],
                name="keyframe_video_queue",
            ),
            models.Index(fields=["status", "-uncertainty", "id"], name="keyframe_uncertain_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.video_id}@{self.timestamp}"

    def live_lease_holder_id(self) -> int | None:
        """Who holds a live review lease that keeps others off it (annotator.services.review;
        `lease_free_q` is the same rule as a query): nobody on a gold keyframe, which each
        reviewer answers apart."""
        if self.gold or self.lease_until is None or self.lease_until <= timezone.now():
            return None
        return self.lease_holder_id


class Source(models.TextChoices):
    HUMAN = "human"
    MODEL = "model"
    DETECTOR = "detector"
    IMPORT = "import"


class State(models.TextChoices):
    SUGGESTED = "suggested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EDITED = "edited"


def _box_constraints() -> list[models.BaseConstraint]:
    return [
        models.CheckConstraint(
            condition=Q(x1__gte=0) & Q(x1__lt=models.F("x2")) & Q(x2__lte=1),
            name="personbox_x_in_unit_range",
        ),
        models.CheckConstraint(
            condition=Q(y1__gte=0) & Q(y1__lt=models.F("y2")) & Q(y2__lte=1),
            name="personbox_y_in_unit_range",
        ),
    ]


# Ground truth (DESIGN.md): a box or label made by a human or imported as ground truth, or a
# suggestion a reviewer accepted or edited; never a rejected one. Only reviewed keyframes count.
GT_SOURCES = (Source.HUMAN, Source.IMPORT)
GT_STATES = (State.ACCEPTED, State.EDITED)


def is_ground_truth(source: str, state: str) -> bool:
    """Whether a box or label with this source and state is ground truth."""
    return state != State.REJECTED and (source in GT_SOURCES or state in GT_STATES)


def ground_truth_q(prefix: str = "") -> Q:
    """The same rule as a query filter, on the box or label reached through `prefix`."""
    return (Q(**{f"{prefix}source__in": GT_SOURCES}) | Q(**{f"{prefix}state__in": GT_STATES})) & ~Q(
        **{f"{prefix}state": State.REJECTED}
    )


class PersonBox(models.Model):
    keyframe = models.ForeignKey(Keyframe, on_delete=models.CASCADE, related_name="boxes")
    person_id = models.IntegerField(null=True, blank=True, help_text="Track across keyframes.")
    x1 = models.FloatField()
    y1 = models.FloatField()
    x2 = models.FloatField()
    y2 = models.FloatField()
    source = models.CharField(max_length=16, choices=Source.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.SUGGESTED)
    # The version whose imported predictions made the box; null for every other box (a detector's
    # or a person's box is shared by all versions: their scores are BoxScore rows).
    model_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="boxes"
    )
    detector_score = models.FloatField(null=True, blank=True)
    job = models.ForeignKey(
        "Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["keyframe", "id"]
        constraints = _box_constraints()
        indexes = [models.Index(fields=["job", "keyframe"])]

    def __str__(self) -> str:
        return f"box {self.pk} on {self.keyframe_id}"


class BoxScore(models.Model):
    """A model version's full score vector on a person box (float16, the version's label-map
    order). Each version keeps its own, so pre-annotating with one version never replaces
    another's scores on the same boxes."""

    box = models.ForeignKey(PersonBox, on_delete=models.CASCADE, related_name="model_scores")
    model_version = models.ForeignKey(
        "ModelVersion", on_delete=models.CASCADE, related_name="box_scores"
    )
    scores = models.BinaryField()
    job = models.ForeignKey(
        "Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["box", "model_version"]
        constraints = [
            models.UniqueConstraint(
                fields=["box", "model_version"], name="boxscore_unique_version"
            ),
        ]
        indexes = [models.Index(fields=["model_version", "box"])]

    def __str__(self) -> str:
        return f"scores of {self.model_version_id} on box {self.box_id}"


class BoxLabel(models.Model):
    box = models.ForeignKey(PersonBox, on_delete=models.CASCADE, related_name="labels")
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.SUGGESTED)
    score = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["box", "action"]
        constraints = [
            models.UniqueConstraint(fields=["box", "action"], name="boxlabel_unique_action"),
        ]

    def __str__(self) -> str:
        return f"{self.action_id} on box {self.box_id}"


class GoldAnswer(models.Model):
    """One reviewer's blind answer on a gold keyframe, stored apart from the keyframe's boxes (so
    several reviewers answer the same keyframe). The answer a manager approves (one at a time) is
    the gold answer: it is written to the keyframe as its ground truth (annotator.services.gold)."""

    keyframe = models.ForeignKey(Keyframe, on_delete=models.CASCADE, related_name="gold_answers")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gold_answers"
    )
    # [{"id": 1, "person_id": 3, "x1": .., "y1": .., "x2": .., "y2": .., "labels": [action ids]}]
    boxes = models.JSONField(default=list, blank=True)
    # Set when the reviewer marks the keyframe reviewed; until then the answer is a draft.
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["keyframe", "reviewer"]
        constraints = [
            models.UniqueConstraint(fields=["keyframe", "reviewer"], name="goldanswer_unique"),
            # At most one approved answer per keyframe: the gold answer.
            models.UniqueConstraint(
                fields=["keyframe"],
                condition=Q(approved_at__isnull=False),
                name="goldanswer_one_approved",
            ),
        ]
        indexes = [models.Index(fields=["reviewer", "submitted_at"])]

    def __str__(self) -> str:
        return f"answer of {self.reviewer_id} on {self.keyframe_id}"


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        EXTERNAL = "external"  # predictions imported from elsewhere, no checkpoint
        READY = "ready"
        TRAINING = "training"
        FAILED = "failed"
        ARCHIVED = "archived"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="model_versions")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    config = models.JSONField(default=dict, blank=True, help_text="Architecture config.")
    label_map = models.JSONField(default=list, blank=True)
    preprocess = models.JSONField(default=dict, blank=True)
    checkpoint = models.FileField(upload_to="checkpoints/", max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    training_snapshot = models.JSONField(default=dict, blank=True)
    training_snapshot_hash = models.CharField(max_length=64, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="modelversion_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Job(models.Model):
    class Type(models.TextChoices):
        INGEST = "ingest"
        IMPORT = "import"
        PREANNOTATE = "preannotate"
        EVALUATE = "evaluate"
        TRAIN = "train"
        EXPORT_TRAINING = "export_training"
        UNCERTAINTY = "uncertainty"
        SEED_DEMO = "seed_demo"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"
        WAITING = "waiting"  # for the jobs in `depends_on`, then queued again

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.WAITING)

    job_type = models.CharField(max_length=16, choices=Type.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    message = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    video = models.ForeignKey(
        Video, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    upload = models.FileField(upload_to="imports/", max_length=500, blank=True)
    depends_on = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="dependents",
        help_text="Jobs this one waited for (an evaluation for the pre-annotation it started).",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "lease_until"])]

    def __str__(self) -> str:
        return f"{self.job_type} job {self.pk} ({self.status})"


class EvaluationReport(models.Model):
    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="evaluation_reports"
    )
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="evaluation_reports"
    )
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    box_source = models.CharField(max_length=32, help_text="Which person boxes were scored.")
    snapshot_hash = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    mean_ap = models.FloatField(null=True, blank=True)
    per_class = models.JSONField(default=dict, help_text="action id -> {ap, gt_count}.")
    per_type = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"report {self.pk}: {self.model_version_id} mAP {self.mean_ap}"


class AuditEvent(models.Model):
    """One human change: who changed what, when, from what to what."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    verb = models.CharField(max_length=64)
    keyframe = models.ForeignKey(
        Keyframe, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    object_type = models.CharField(max_length=32)
    object_id = models.BigIntegerField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.verb} {self.object_type} {self.object_id}"


class ReviewerSettings(models.Model):
    """A user's review settings: their key bindings, command -> key, over the defaults
    (annotator.services.keys.DEFAULT_KEYS)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviewer_settings"
    )
    key_bindings = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"settings of {self.user_id}"
