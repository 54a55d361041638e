"""List filters: django-filter FilterSets, documented in the schema by drf-spectacular, and a
backend that answers a bad value with a 400 naming the parameter and the value."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from annotator import selectors
from annotator.models import (
    Action,
    EvaluationReport,
    GoldAnswer,
    Job,
    Keyframe,
    ModelVersion,
    Video,
)

INT64 = 2**63


class IdField(forms.IntegerField):
    """A database id: an integer that fits a 64-bit column; errors name the value."""

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        try:
            number = int(str(value).strip())
        except ValueError:
            raise DjangoValidationError(f"{value!r} is not an integer", code="invalid") from None
        if not -INT64 <= number < INT64:
            raise DjangoValidationError(f"{value!r} is out of range", code="invalid")
        return number


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.Filter):
    field_class = IdField


def choice_filter(choices: list[str], **kwargs: Any) -> django_filters.ChoiceFilter:
    """A filter whose value must be one of `choices`; the error names the value and the choices."""
    return django_filters.ChoiceFilter(
        choices=[(choice, choice) for choice in choices],
        error_messages={"invalid_choice": f"%(value)r is not one of {choices}"},
        **kwargs,
    )


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend with errors as `{parameter: "message"}`, as every 400 here."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise ValidationError(
                {name: " ".join(messages) for name, messages in filterset.errors.items()}
            )
        return filterset.qs


class ActionFilter(django_filters.FilterSet):
    dataset = IdFilter(field_name="dataset_id")

    class Meta:
        model = Action
        fields = ["dataset"]


class VideoFilter(django_filters.FilterSet):
    dataset = IdFilter(field_name="dataset_id")
    status = choice_filter(Video.Status.values)

    class Meta:
        model = Video
        fields = ["dataset", "status"]


class JobFilter(django_filters.FilterSet):
    dataset = IdFilter(field_name="dataset_id")
    video = IdFilter(field_name="video_id")
    status = choice_filter(Job.Status.values)
    job_type = choice_filter(Job.Type.values)

    class Meta:
        model = Job
        fields = ["dataset", "video", "status", "job_type"]


class ModelVersionFilter(django_filters.FilterSet):
    dataset = IdFilter(field_name="dataset_id")

    class Meta:
        model = ModelVersion
        fields = ["dataset"]


class EvaluationReportFilter(django_filters.FilterSet):
    dataset = IdFilter(field_name="dataset_id")
    model_version = IdFilter(field_name="model_version_id")

    class Meta:
        model = EvaluationReport
        fields = ["dataset", "model_version"]


class GoldAnswerFilter(django_filters.FilterSet):
    keyframe = IdFilter(field_name="keyframe_id")
    reviewer = IdFilter(field_name="reviewer_id")
    approved = django_filters.BooleanFilter(
        field_name="approved_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = GoldAnswer
        fields = ["keyframe", "reviewer", "approved"]


class AssigneeField(forms.CharField):
    """A user id, or `none` for unassigned keyframes."""

    def to_python(self, value: Any) -> int | str | None:
        text = super().to_python(value)
        if not text:
            return None
        return "none" if text == "none" else IdField().to_python(text)


@extend_schema_field(OpenApiTypes.STR)
class AssigneeFilter(django_filters.Filter):
    field_class = AssigneeField


class KeyframeFilter(django_filters.FilterSet):
    """Parses and documents the keyframe list's parameters; `selectors.keyframe_list` filters."""

    dataset = IdFilter()
    video = IdFilter()
    status = choice_filter(Keyframe.Status.values)
    assignee = AssigneeFilter(help_text="user id, or 'none' for unassigned")
    ordering = choice_filter(selectors.KEYFRAME_ORDERINGS)

    class Meta:
        model = Keyframe
        fields = ["dataset", "video", "status", "assignee", "ordering"]

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        values = self.form.cleaned_data
        return selectors.keyframe_list(
            queryset=queryset,
            dataset=values.get("dataset"),
            video=values.get("video"),
            status=values.get("status") or None,
            assignee=values.get("assignee"),
            ordering=values.get("ordering") or "id",
        )


def query_id(request: Request, name: str) -> int | None:
    """An id query parameter outside a list (e.g. `baseline`), or a 400 naming it and its value."""
    try:
        return IdField(required=False).clean(request.query_params.get(name))
    except DjangoValidationError as error:
        raise ValidationError({name: " ".join(error.messages)}) from None
