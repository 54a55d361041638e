"""REST: train a new model version from a dataset's reviewed data (managers); archive a version.

Promotion and rollback are `model-versions/{id}/activate/` (audited).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.api.permissions import IsManager
from annotator.api.serializers import JobOutput, ModelVersionOutput, version_in_dataset
from annotator.models import Dataset, ModelVersion
from annotator.services import training

CONFLICT = inline_serializer(
    "TrainingConflict",
    {"detail": serializers.CharField(), "job": serializers.IntegerField(required=False)},
)


class DatasetTrainApi(APIView):
    """Queue a training job (gpu queue) on the ground truth of whole videos, frozen now; 409
    names the training job already running."""

    permission_classes = [IsManager]

    class DatasetTrainInput(serializers.Serializer):
        train_videos = serializers.ListField(
            child=serializers.CharField(max_length=200),
            min_length=1,
            help_text="AVA video ids that train (whole videos)",
        )
        val_videos = serializers.ListField(
            child=serializers.CharField(max_length=200),
            min_length=1,
            help_text="AVA video ids that validate (whole videos, none of the training ones)",
        )
        base_version = serializers.IntegerField(
            required=False,
            allow_null=True,
            help_text="model version to start from; absent: `preset`, randomly initialised",
        )
        preset = serializers.ChoiceField(
            choices=["small", "slowfast_r50_8x8_ava", "slow_r50_4x16_ava"],
            default=training.DEFAULT_PRESET,
        )
        epochs = serializers.IntegerField(
            default=training.DEFAULT_EPOCHS, min_value=1, max_value=1000
        )
        lr = serializers.FloatField(default=training.DEFAULT_LR, min_value=1e-12, max_value=1e38)
        batch_size = serializers.IntegerField(
            default=training.DEFAULT_BATCH_SIZE, min_value=1, max_value=1024
        )
        freeze_backbone = serializers.BooleanField(default=False)
        name = serializers.CharField(max_length=200, required=False)

    @extend_schema(request=DatasetTrainInput, responses={202: JobOutput, 409: CONFLICT})
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        data = self.DatasetTrainInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        base = values.pop("base_version", None)
        if base is not None:
            base = version_in_dataset(dataset, base, "base_version")
        job = training.training_start(
            dataset=dataset,
            base_version=base,
            user=request.user,
            **values,
        )
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class ModelVersionArchiveApi(APIView):
    """Archive a model version that is not active (kept with its lineage; audited)."""

    permission_classes = [IsManager]

    @extend_schema(request=None, responses={200: ModelVersionOutput, 409: CONFLICT})
    def post(self, request: Request, model_version_id: int) -> Response:
        version = get_object_or_404(ModelVersion, pk=model_version_id)
        version = training.model_version_archive(model_version=version, user=request.user)
        return Response(ModelVersionOutput(version).data)
