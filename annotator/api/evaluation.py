"""REST: start an evaluation (managers), read a report, and its figure as JSON, SVG, PNG and CSV.

The figure endpoints take `?baseline=REPORT_ID` to compare report B with baseline A; all four
read the one `reports.report_comparison`, so the page and every download agree.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import reports
from annotator.api.filters import query_id
from annotator.api.permissions import HasRole, IsManager
from annotator.api.serializers import EvaluationReportOutput, JobOutput, version_in_dataset
from annotator.models import Dataset, EvaluationReport, Video
from annotator.services.evaluation import SCORED_BOX_SOURCES, evaluation_start
from inference.figures import figure_png, figure_svg

BASELINE = OpenApiParameter(
    "baseline", int, description="id of the baseline report (model A) to compare with"
)


class DatasetEvaluateApi(APIView):
    """Queue an evaluation job (default queue) of a model version, optionally against a
    baseline version; it writes one report per version."""

    permission_classes = [IsManager]

    class DatasetEvaluateInput(serializers.Serializer):
        model_version = serializers.IntegerField(help_text="model version B (or the only one)")
        baseline = serializers.IntegerField(
            required=False, allow_null=True, help_text="model version A, the baseline"
        )
        videos = serializers.ListField(
            child=serializers.IntegerField(),
            required=False,
            allow_empty=True,
            help_text="video ids; empty or absent: all videos",
        )
        gold_only = serializers.BooleanField(default=False)
        box_source = serializers.ChoiceField(
            choices=SCORED_BOX_SOURCES,
            default="detections",
            help_text="detections: the boxes pre-annotation scored (as AVA evaluates); "
            "ground_truth: the ground-truth boxes",
        )

    @extend_schema(request=DatasetEvaluateInput, responses={202: JobOutput})
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        data = self.DatasetEvaluateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        model_version = version_in_dataset(dataset, values["model_version"], "model_version")
        baseline = None
        if values.get("baseline") is not None:
            baseline = version_in_dataset(dataset, values["baseline"], "baseline")
        videos = None
        if values.get("videos"):
            wanted = set(values["videos"])
            videos = list(Video.objects.filter(dataset=dataset, pk__in=wanted))
            unknown = sorted(wanted - {video.pk for video in videos})
            if unknown:
                raise serializers.ValidationError({"videos": f"not in this dataset: {unknown}"})
        job = evaluation_start(
            dataset=dataset,
            model_version=model_version,
            baseline=baseline,
            videos=videos,
            gold_only=values["gold_only"],
            box_source=values["box_source"],
            user=request.user,
        )
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class EvaluationReportDetailApi(APIView):
    permission_classes = [HasRole]

    @extend_schema(responses=EvaluationReportOutput)
    def get(self, request: Request, report_id: int) -> Response:
        return Response(
            EvaluationReportOutput(get_object_or_404(EvaluationReport, pk=report_id)).data
        )


def _comparison(request: Request, report_id: int) -> reports.Comparison:
    return reports.report_comparison(report_id=report_id, baseline_id=query_id(request, "baseline"))


def _filename(comparison: reports.Comparison, extension: str) -> str:
    name = f"report-{comparison.report.id}"
    if comparison.baseline is not None:
        name += f"-vs-{comparison.baseline.id}"
    return f"{name}.{extension}"


class EvaluationFigureApi(APIView):
    """Per-class AP in figure order with gains and marks: what the dashboard draws."""

    permission_classes = [HasRole]

    @extend_schema(parameters=[BASELINE], responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, report_id: int) -> Response:
        comparison = _comparison(request, report_id)
        response = Response(reports.comparison_json(comparison))
        if "download" in request.query_params:
            response["Content-Disposition"] = (
                f'attachment; filename="{_filename(comparison, "json")}"'
            )
        return response


class _FileNegotiation(BaseContentNegotiation):
    """The view writes the file whatever the Accept header asks for; errors are JSON."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        renderer = JSONRenderer()
        return renderer, renderer.media_type


class _FigureFileApi(APIView):
    permission_classes = [HasRole]
    content_negotiation_class = _FileNegotiation
    extension = ""
    content_type = ""

    def body(self, comparison: reports.Comparison) -> str | bytes:
        raise NotImplementedError

    def get(self, request: Request, report_id: int) -> HttpResponse:
        comparison = _comparison(request, report_id)
        response = HttpResponse(self.body(comparison), content_type=self.content_type)
        disposition = "attachment" if "download" in request.query_params else "inline"
        response["Content-Disposition"] = (
            f'{disposition}; filename="{_filename(comparison, self.extension)}"'
        )
        return response


class EvaluationFigureSvgApi(_FigureFileApi):
    """The figure as SVG (hover titles on each class)."""

    extension = "svg"
    content_type = "image/svg+xml"

    def body(self, comparison: reports.Comparison) -> str:
        return figure_svg(comparison)

    @extend_schema(parameters=[BASELINE], responses={(200, "image/svg+xml"): OpenApiTypes.STR})
    def get(self, request: Request, report_id: int) -> HttpResponse:
        return super().get(request, report_id)


class EvaluationFigurePngApi(_FigureFileApi):
    """The figure as PNG, drawn from the same layout as the SVG."""

    extension = "png"
    content_type = "image/png"

    def body(self, comparison: reports.Comparison) -> bytes:
        return figure_png(comparison)

    @extend_schema(parameters=[BASELINE], responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request: Request, report_id: int) -> HttpResponse:
        return super().get(request, report_id)


class EvaluationFigureCsvApi(_FigureFileApi):
    """The per-class table as CSV, in figure order."""

    extension = "csv"
    content_type = "text/csv; charset=utf-8"

    def body(self, comparison: reports.Comparison) -> str:
        return reports.comparison_csv(comparison)

    @extend_schema(parameters=[BASELINE], responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, report_id: int) -> HttpResponse:
        return super().get(request, report_id)
