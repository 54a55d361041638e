"""The Django admin: every model with search and filters. Every write goes through the services:
derived and reviewed data are read-only here, and changes are actions that call the services
(so they bump the keyframe version, are audited, queue the ingest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from annotator import selectors
from annotator.errors import ApplicationError
from annotator.forms import TrainForm
from annotator.models import (
    Action,
    AuditEvent,
    BoxLabel,
    BoxScore,
    Dataset,
    EvaluationReport,
    GoldAnswer,
    Job,
    Keyframe,
    ModelVersion,
    PersonBox,
    ReviewerSettings,
    Video,
)
from annotator.services import datasets, jobs, videos
from annotator.services.annotations import keyframe_status_set, keyframe_update
from annotator.validation import text_check, video_id_check


def _form_check(check: Callable[[], Any]) -> Any:
    """Run a service check; its ApplicationError becomes the form field's error."""
    try:
        return check()
    except ApplicationError as error:
        raise forms.ValidationError(error.message) from error


def _each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    call: Callable[[Any], Any],
    done: str,
) -> None:
    """Call a service for each selected row; report how many succeeded and every refusal."""
    count = 0
    for item in queryset:
        try:
            call(item)
            count += 1
        except ApplicationError as error:
            model_admin.message_user(request, f"{item}: {error.message}", messages.ERROR)
    if count:
        model_admin.message_user(request, f"{count} {done}", messages.SUCCESS)


def _retrain(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    dataset: Dataset,
    base: ModelVersion | None,
) -> HttpResponse | None:
    """The intermediate form of "Retrain from reviewed data"; on a valid submit, start the job
    and open its page."""
    if "apply" in request.POST:
        form = TrainForm(request.POST, dataset=dataset)
        job = form.started(request.user)
        if job is not None:
            model_admin.message_user(request, f"training job {job.pk} queued", messages.SUCCESS)
            return redirect(reverse("job-detail", args=[job.pk]))
    else:
        form = TrainForm(dataset=dataset, initial={"base_version": base} if base else None)
    return TemplateResponse(
        request,
        "admin/annotator/retrain.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": f"Retrain from reviewed data: {dataset.name}",
            "form": form,
            "dataset": dataset,
            "selected": queryset.values_list("pk", flat=True),
            "action": request.POST.get("action", ""),
            "checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": model_admin.model._meta,
        },
    )


def _one(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]
) -> Any | None:
    if queryset.count() != 1:
        model_admin.message_user(request, "select exactly one row to retrain", messages.ERROR)
        return None
    return queryset.first()


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the services only: looked up here, never added or edited."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DatasetForm(forms.ModelForm):
    class Meta:
        model = Dataset
        fields = ["name", "description", "review_rules"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        return _form_check(lambda: text_check(field="name", value=name))

    def clean_description(self) -> str:
        text = self.cleaned_data["description"]
        return _form_check(lambda: text_check(field="description", value=text, multiline=True))

    def clean_review_rules(self) -> Any:
        rules = self.cleaned_data["review_rules"]
        return _form_check(lambda: datasets.rules_validate(rules if rules is not None else {}))


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    """The active model version changes only through the audited promotion (the model version
    admin's action, or the API)."""

    form = DatasetForm
    list_display = ["name", "active_model_version", "created_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["active_model_version", "created_at"]
    actions = ["retrain"]

    @admin.action(description="Retrain from reviewed data")
    def retrain(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> HttpResponse | None:
        dataset = _one(self, request, queryset)
        if dataset is None:
            return None
        return _retrain(self, request, queryset, dataset, dataset.active_model_version)

    def save_model(self, request: HttpRequest, obj: Dataset, form: Any, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in ("description", "review_rules")}
        if change:
            saved = datasets.dataset_update(
                dataset=obj, user=request.user, name=form.cleaned_data["name"], **fields
            )
        else:
            saved = datasets.dataset_create(name=form.cleaned_data["name"], **fields)
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Dataset) -> None:
        videos.dataset_delete(dataset=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        for dataset in queryset:
            videos.dataset_delete(dataset=dataset)


@admin.register(Action)
class ActionAdmin(ReadOnlyAdmin):
    """Actions come from label maps (the API or `manage.py import_labelmap`)."""

    list_display = ["action_id", "name", "action_type", "evaluated", "dataset"]
    list_filter = ["dataset", "action_type", "evaluated"]
    search_fields = ["name"]


class VideoAddForm(forms.ModelForm):
    file = forms.FileField()

    class Meta:
        model = Video
        fields = ["dataset", "video_id", "file", "time_offset"]

    def clean_video_id(self) -> str:
        video_id = self.cleaned_data["video_id"]
        return _form_check(lambda: video_id_check(value=video_id))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        _form_check(lambda: videos.video_upload_check(upload=upload))
        return upload


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    """Adding a video stores it and queues its ingest, as an upload does; what the ingest
    derives (fps, duration, status, keyframe range) is read-only."""

    add_form = VideoAddForm
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

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return VideoAddForm.Meta.fields
        return super().get_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: Video, form: Any, change: bool) -> None:
        created = videos.video_create(
            dataset=form.cleaned_data["dataset"],
            video_id=form.cleaned_data["video_id"],
            upload=form.cleaned_data["file"],
            time_offset=form.cleaned_data["time_offset"],
            user=request.user,
        )
        obj.__dict__.update({key: value for key, value in created.__dict__.items()})
        self.message_user(request, f"video {created.video_id}: ingest queued", messages.INFO)

    def delete_model(self, request: HttpRequest, obj: Video) -> None:
        videos.video_delete(video=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        for video in queryset:
            videos.video_delete(video=video)


def _status_action(status: str) -> Callable[..., None]:
    def action(model_admin: Any, request: HttpRequest, queryset: QuerySet[Keyframe]) -> None:
        _each(
            model_admin,
            request,
            queryset,
            lambda keyframe: keyframe_status_set(
                keyframe_id=keyframe.pk, status=status, user=request.user
            ),
            f"keyframe(s) marked {status}",
        )

    action.__name__ = f"mark_{status}"
    return admin.action(description=f"Mark selected keyframes {status}")(action)


def _update_action(name: str, description: str, **change: Any) -> Callable[..., None]:
    def action(model_admin: Any, request: HttpRequest, queryset: QuerySet[Keyframe]) -> None:
        _each(
            model_admin,
            request,
            queryset,
            lambda keyframe: keyframe_update(keyframe_id=keyframe.pk, user=request.user, **change),
            "keyframe(s) updated",
        )

    action.__name__ = name
    return admin.action(description=description)(action)


@admin.register(Keyframe)
class KeyframeAdmin(ReadOnlyAdmin):
    """Read-only: the review status, assignment and flags change through actions that call the
    services, so the version is bumped (a stale editor gets a 409) and the change is audited."""

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
    list_select_related = ["video", "assignee", "reviewed_by"]
    actions = [
        *(_status_action(status) for status in Keyframe.Status.values),
        _update_action("exclude", "Exclude selected keyframes", excluded=True),
        _update_action("include", "Include selected keyframes", excluded=False),
        _update_action("mark_gold", "Mark selected keyframes gold", gold=True),
        _update_action("unmark_gold", "Unmark selected keyframes gold", gold=False),
        _update_action("unassign", "Unassign selected keyframes", assignee=None),
    ]


class BoxLabelInline(admin.TabularInline):
    model = BoxLabel
    extra = 0
    raw_id_fields = ["action"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AnnotationAdmin(ReadOnlyAdmin):
    """Boxes and labels change in the review UI or the API, which lock and audit the keyframe."""

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(PersonBox)
class PersonBoxAdmin(AnnotationAdmin):
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
    list_select_related = ["keyframe__video", "model_version"]
    inlines = [BoxLabelInline]


@admin.register(BoxScore)
class BoxScoreAdmin(ReadOnlyAdmin):
    """Score vectors are written by pre-annotation only; here they are looked up, not edited."""

    list_display = ["id", "box", "model_version", "job", "created_at"]
    list_filter = ["model_version"]
    search_fields = ["model_version__name", "box__keyframe__video__video_id"]
    list_select_related = ["box", "model_version"]
    exclude = ["scores"]


@admin.register(BoxLabel)
class BoxLabelAdmin(AnnotationAdmin):
    list_display = ["id", "box", "action", "source", "state", "score"]
    list_filter = ["source", "state", "action__action_type"]
    search_fields = ["action__name", "box__keyframe__video__video_id"]
    list_select_related = ["action", "box"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    """Versions come from training and `manage.py register_model`; promotion is an action."""

    list_display = [
        "name",
        "dataset",
        "status",
        "parent",
        "lineage",
        "training_snapshot_hash",
        "val_map",
        "created_by",
        "created_at",
    ]
    list_filter = ["dataset", "status"]
    search_fields = ["name", "sha256", "training_snapshot_hash"]
    list_select_related = ["dataset", "parent", "created_by"]
    actions = ["activate", "retrain"]

    @admin.display(description="lineage (parent chain)")
    def lineage(self, version: ModelVersion) -> str:
        return " \u2190 ".join(item.name for item in selectors.model_version_lineage(version))

    @admin.display(description="val mAP")
    def val_map(self, version: ModelVersion) -> str:
        value = (version.metrics or {}).get("val_map")
        return "-" if value is None else f"{value:.4f}"

    @admin.action(description="Retrain from reviewed data")
    def retrain(
        self, request: HttpRequest, queryset: QuerySet[ModelVersion]
    ) -> HttpResponse | None:
        version = _one(self, request, queryset)
        if version is None:
            return None
        return _retrain(self, request, queryset, version.dataset, version)

    @admin.action(description="Make active for its dataset (pre-annotation uses it)")
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        _each(
            self,
            request,
            queryset,
            lambda version: datasets.dataset_activate_model(
                model_version=version, user=request.user
            ),
            "model version(s) made active",
        )


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
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
    actions = ["cancel"]

    @admin.action(description="Cancel selected jobs")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        _each(
            self,
            request,
            queryset,
            lambda job: jobs.job_cancel(job_id=job.pk),
            "job(s) cancelled or asked to stop",
        )


@admin.register(EvaluationReport)
class EvaluationReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "model_version", "dataset", "box_source", "mean_ap", "created_at"]
    list_filter = ["dataset", "box_source"]
    search_fields = ["model_version__name", "snapshot_hash"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read only: the audit trail is written by the services, never edited."""

    list_display = ["at", "user", "verb", "object_type", "object_id", "keyframe"]
    list_filter = ["verb", "object_type"]
    search_fields = ["user__username", "verb"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReviewerSettings)
class ReviewerSettingsAdmin(ReadOnlyAdmin):
    """Read only: each reviewer changes their keys on /settings/keys/ (checked for conflicts)."""

    list_display = ["user", "updated_at"]
    list_filter = ["updated_at"]
    search_fields = ["user__username"]


@admin.register(GoldAnswer)
class GoldAnswerAdmin(ReadOnlyAdmin):
    """Read only: reviewers answer on the review page, managers approve on /gold/ (audited)."""

    list_display = ["keyframe", "reviewer", "submitted_at", "approved_by", "approved_at"]
    list_filter = ["keyframe__video__dataset", "submitted_at", "approved_at"]
    search_fields = ["reviewer__username", "keyframe__video__video_id"]
    list_select_related = ["keyframe__video", "reviewer", "approved_by"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
