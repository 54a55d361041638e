"""REST: start pre-annotation of a video (managers); the job endpoints report its progress."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.api.permissions import IsManager
from annotator.api.serializers import JobOutput, version_in_dataset
from annotator.models import Video
from annotator.services.preannotate import PERSON_BOX_SOURCES, preannotate_start


class VideoPreannotateApi(APIView):
    """Queue a pre-annotation job; 409 names the job while one is queued or running."""

    permission_classes = [IsManager]

    class VideoPreannotateInput(serializers.Serializer):
        include_reviewed = serializers.BooleanField(default=False)
        person_boxes = serializers.ChoiceField(
            choices=PERSON_BOX_SOURCES,
            default="auto",
            help_text="auto: an imported AVA person-box file if the video has one, else the "
            "detector's boxes of earlier runs, detecting where a keyframe has none (every "
            "version is scored on the same boxes); detector: detect afresh, replacing untouched "
            "detector boxes and every version's scores on them; imported: the person-box file "
            "only; human: only boxes reviewers drew or accepted",
        )
        detector_threshold = serializers.FloatField(
            required=False, allow_null=True, min_value=0.0, max_value=1.0
        )
        model_version = serializers.IntegerField(
            required=False,
            allow_null=True,
            help_text="model version id; absent: the dataset's active version",
        )

    @extend_schema(
        request=VideoPreannotateInput,
        responses={
            202: JobOutput,
            409: inline_serializer(
                "PreannotationConflict",
                {"detail": serializers.CharField(), "job": serializers.IntegerField()},
            ),
        },
    )
    def post(self, request: Request, video_id: int) -> Response:
        data = self.VideoPreannotateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        video = get_object_or_404(Video.objects.select_related("dataset"), pk=video_id)
        if values.get("model_version") is not None:
            values["model_version"] = version_in_dataset(
                video.dataset, values["model_version"], "model_version"
            )
        job = preannotate_start(video=video, user=request.user, **values)
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)
