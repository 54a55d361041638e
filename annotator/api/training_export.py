"""REST: export a dataset's training bundle as a job (managers), then download it as one tar."""

from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors
from annotator.api.evaluation import _FileNegotiation
from annotator.api.permissions import IsManager
from annotator.api.serializers import JobOutput
from annotator.models import Dataset, Job
from annotator.services.training_export import (
    DEFAULT_SHORT_SIDE,
    training_export_start,
    training_export_tar,
)

CONFLICT = inline_serializer(
    "TrainingExportConflict",
    {"detail": serializers.CharField(), "job": serializers.IntegerField(required=False)},
)


class DatasetTrainingExportApi(APIView):
    """Queue a training-bundle export (default queue); 409 names the export already running."""

    permission_classes = [IsManager]

    class DatasetTrainingExportInput(serializers.Serializer):
        val_videos = serializers.ListField(
            child=serializers.CharField(max_length=200),
            min_length=1,
            help_text="AVA video ids of the validation split; the other videos train",
        )
        short_side = serializers.IntegerField(
            default=DEFAULT_SHORT_SIDE, min_value=16, max_value=4320
        )

    @extend_schema(request=DatasetTrainingExportInput, responses={202: JobOutput, 409: CONFLICT})
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        data = self.DatasetTrainingExportInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = training_export_start(dataset=dataset, user=request.user, **data.validated_data)
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class DatasetTrainingExportDownloadApi(APIView):
    """The bundle of a finished export job as one tar file, streamed."""

    permission_classes = [IsManager]
    content_negotiation_class = _FileNegotiation  # the tar whatever Accept says; errors are JSON

    @extend_schema(responses={(200, "application/x-tar"): OpenApiTypes.BINARY, 409: CONFLICT})
    def get(self, request: Request, dataset_id: int, job_id: int) -> FileResponse:
        job = get_object_or_404(Job, pk=job_id, dataset_id=dataset_id)
        path = training_export_tar(job=job)
        name = selectors.safe_filename(f"{job.dataset.name}-training-{job.pk}")
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"{name}.tar",
            content_type="application/x-tar",
        )
