"""The Django admin: every model with search and filters; deletions go through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from annotator.models import (
    Action,
    AuditEvent,
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
from annotator.services.videos import dataset_delete, video_delete


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "active_model_version", "created_at"]
    search_fields = ["name", "description"]

    def delete_model(self, request: HttpRequest, obj: Dataset) -> None:
        dataset_delete(dataset=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        for dataset in queryset:
            dataset_delete(dataset=dataset)


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    list_display = ["action_id", "name", "action_type", "evaluated", "dataset"]
    list_filter = ["dataset", "action_type", "evaluated"]
    search_fields = ["name"]


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = [
        "video_id",
        "dataset",
        "status",
        "fps",
        "duration",
        "width",
        "height",
        "created_at",
    ]
    list_filter = ["dataset", "status", "codec"]
    search_fields = ["video_id"]

    def delete_model(self, request: HttpRequest, obj: Video) -> None:
        video_delete(video=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        for video in queryset:
            video_delete(video=video)


@admin.register(Keyframe)
class KeyframeAdmin(admin.ModelAdmin):
    list_display = [
        "video",
        "timestamp",
        "status",
        "assignee",
        "reviewed_by",
        "excluded",
        "gold",
        "version",
    ]
    list_filter = ["status", "excluded", "gold", "video__dataset"]
    search_fields = ["video__video_id", "timestamp"]
    raw_id_fields = ["video", "assignee", "reviewed_by"]
    list_select_related = ["video", "assignee", "reviewed_by"]


class BoxLabelInline(admin.TabularInline):
    model = BoxLabel
    extra = 0
    raw_id_fields = ["action"]


@admin.register(PersonBox)
class PersonBoxAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "keyframe",
        "person_id",
        "source",
        "state",
        "model_version",
        "detector_score",
    ]
    list_filter = ["source", "state", "keyframe__video__dataset"]
    search_fields = ["keyframe__video__video_id"]
    raw_id_fields = ["keyframe", "model_version", "job"]
    list_select_related = ["keyframe__video", "model_version"]
    inlines = [BoxLabelInline]


@admin.register(BoxScore)
class BoxScoreAdmin(admin.ModelAdmin):
    """Score vectors are written by pre-annotation only; here they are looked up, not edited."""

    list_display = ["id", "box", "model_version", "job", "created_at"]
    list_filter = ["model_version"]
    search_fields = ["model_version__name", "box__keyframe__video__video_id"]
    raw_id_fields = ["box", "model_version", "job"]
    list_select_related = ["box", "model_version"]
    exclude = ["scores"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: BoxScore | None = None) -> bool:
        return False


@admin.register(BoxLabel)
class BoxLabelAdmin(admin.ModelAdmin):
    list_display = ["id", "box", "action", "source", "state", "score"]
    list_filter = ["source", "state", "action__action_type"]
    search_fields = ["action__name", "box__keyframe__video__video_id"]
    raw_id_fields = ["box", "action"]
    list_select_related = ["action", "box"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "dataset", "status", "sha256", "created_at"]
    list_filter = ["dataset", "status"]
    search_fields = ["name", "sha256"]
    raw_id_fields = ["parent"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "job_type",
        "status",
        "progress",
        "dataset",
        "video",
        "worker",
        "created_at",
    ]
    list_filter = ["job_type", "status", "dataset"]
    search_fields = ["message", "worker"]
    raw_id_fields = ["dataset", "video", "created_by", "depends_on"]


@admin.register(EvaluationReport)
class EvaluationReportAdmin(admin.ModelAdmin):
    list_display = ["id", "model_version", "dataset", "box_source", "mean_ap", "created_at"]
    list_filter = ["dataset", "box_source"]
    search_fields = ["model_version__name", "snapshot_hash"]
    raw_id_fields = ["model_version", "job"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read only: the audit trail is written by the services, never edited."""

    list_display = ["at", "user", "verb", "object_type", "object_id", "keyframe"]
    list_filter = ["verb", "object_type"]
    search_fields = ["user__username", "verb"]
    raw_id_fields = ["keyframe", "user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
