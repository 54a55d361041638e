"""REST API under /api/v1/: views parse input, call one service or selector, render output."""

# No `from __future__ import annotations` here: it would shadow the `annotations` service module
# imported below. Every annotation in this module names a class imported at run time.
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, selectors_gold
from annotator.api.filters import (
    ActionFilter,
    EvaluationReportFilter,
    FilterBackend,
    JobFilter,
    KeyframeFilter,
    ModelVersionFilter,
    VideoFilter,
)
from annotator.api.permissions import HasRole, IsManager, ReadOrManager
from annotator.api.serializers import (
    ActionOutput,
    DatasetOutput,
    EvaluationReportOutput,
    JobOutput,
    KeyframeDetailOutput,
    KeyframeOutput,
    ModelVersionOutput,
    VideoOutput,
)
from annotator.models import (
    Action,
    Dataset,
    EvaluationReport,
    Job,
    Keyframe,
    ModelVersion,
    State,
    Video,
)
from annotator.services import annotations, datasets, imports, jobs, users, videos
from annotator.validation import VIDEO_ID_PATTERN


class HealthApi(APIView):
    """Anyone sees which backend is up; only a logged-in user sees why one is down (the reason
    may name hosts and ports)."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: inline_serializer(
                "Health",
                {
                    "database": serializers.CharField(),
                    "redis": serializers.CharField(),
                    "worker": serializers.CharField(),
                },
            ),
            503: inline_serializer(
                "HealthFailed",
                {
                    "database": serializers.CharField(),
                    "redis": serializers.CharField(),
                    "worker": serializers.CharField(),
                },
            ),
        }
    )
    def get(self, request: Request) -> Response:
        report = selectors.health_check()
        healthy = all(value == "ok" for value in report.values())
        if not request.user.is_authenticated:
            report = {name: "ok" if value == "ok" else "error" for name, value in report.items()}
        return Response(
            report, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE
        )


class AuthTokenApi(APIView):
    """The API token of the logged-in user (created on first use): send it as
    `Authorization: Token <key>`. An account without a role has no use for one."""

    permission_classes = [HasRole]

    @extend_schema(
        request=None,
        responses={200: inline_serializer("AuthToken", {"token": serializers.CharField()})},
    )
    def post(self, request: Request) -> Response:
        return Response({"token": users.user_token_get(user=request.user)})


# --- datasets and actions -------------------------------------------------------------------


class DatasetListApi(generics.ListAPIView):
    permission_classes = [ReadOrManager]
    serializer_class = DatasetOutput
    queryset = Dataset.objects.order_by("name")

    class DatasetListInput(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        review_rules = serializers.JSONField(required=False)

    @extend_schema(request=DatasetListInput, responses={201: DatasetOutput})
    def post(self, request: Request) -> Response:
        data = self.DatasetListInput(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = datasets.dataset_create(**data.validated_data)
        return Response(DatasetOutput(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(APIView):
    permission_classes = [ReadOrManager]

    class DatasetDetailInput(serializers.Serializer):
        description = serializers.CharField(required=False, allow_blank=True)
        review_rules = serializers.JSONField(required=False)
        active_model_version = serializers.IntegerField(required=False, allow_null=True)

    @extend_schema(responses=DatasetOutput)
    def get(self, request: Request, dataset_id: int) -> Response:
        return Response(DatasetOutput(get_object_or_404(Dataset, pk=dataset_id)).data)

    @extend_schema(request=DatasetDetailInput, responses=DatasetOutput)
    def patch(self, request: Request, dataset_id: int) -> Response:
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        data = self.DatasetDetailInput(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = datasets.dataset_update(dataset=dataset, user=request.user, **data.validated_data)
        return Response(DatasetOutput(dataset).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, dataset_id: int) -> Response:
        videos.dataset_delete(dataset=get_object_or_404(Dataset, pk=dataset_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetLabelmapApi(APIView):
    """The label map as pbtxt (GET), or a pbtxt upload that adds or updates actions (POST)."""

    permission_classes = [ReadOrManager]
    parser_classes = [MultiPartParser]

    class DatasetLabelmapInput(serializers.Serializer):
        file = serializers.FileField()

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR})
    def get(self, request: Request, dataset_id: int) -> HttpResponse:
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        response = HttpResponse(
            selectors.labelmap_text(dataset=dataset), content_type="text/plain; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{selectors.safe_filename(dataset.name)}_labelmap.pbtxt"'
        )
        return response

    @extend_schema(request={"multipart/form-data": DatasetLabelmapInput}, responses=DatasetOutput)
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        data = self.DatasetLabelmapInput(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = datasets.labelmap_upload(dataset=dataset, upload=data.validated_data["file"])
        return Response(DatasetOutput(dataset).data)


EXPORT_PARAMETERS = [
    OpenApiParameter("source", str, enum=["human", "model"], description="human = ground truth"),
    OpenApiParameter("model_version", int, description="model version id (source=model)"),
    OpenApiParameter("reviewed_only", bool),
]


class DatasetExportApi(APIView):
    """AVA CSV of the dataset, streamed while it is read from the database."""

    permission_classes = [IsManager]

    class DatasetExportInput(serializers.Serializer):
        source = serializers.ChoiceField(choices=["human", "model"], default="human")
        model_version = serializers.IntegerField(required=False)
        reviewed_only = serializers.BooleanField(default=False)

    @extend_schema(parameters=EXPORT_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, dataset_id: int) -> StreamingHttpResponse:
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        data = self.DatasetExportInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        model_version = None
        if data.validated_data.get("model_version") is not None:
            model_version = get_object_or_404(
                ModelVersion, pk=data.validated_data["model_version"], dataset=dataset
            )
        lines = selectors.ava_export_lines(
            dataset=dataset,
            source=data.validated_data["source"],
            model_version=model_version,
            reviewed_only=data.validated_data["reviewed_only"],
        )
        response = StreamingHttpResponse(lines, content_type="text/csv")
        response["Content-Disposition"] = (
            f'attachment; filename="{selectors.safe_filename(dataset.name)}.csv"'
        )
        return response


class DatasetImportApi(APIView):
    """Upload an AVA CSV; a Job validates the whole file and writes it, or writes nothing."""

    permission_classes = [IsManager]
    parser_classes = [MultiPartParser]

    class DatasetImportInput(serializers.Serializer):
        file = serializers.FileField()
        kind = serializers.ChoiceField(choices=imports.IMPORT_KINDS)
        model_version = serializers.CharField(required=False, max_length=200)
        create_videos = serializers.BooleanField(default=False)
        time_offset = serializers.FloatField(default=0.0, min_value=0.0)
        not_reviewed = serializers.BooleanField(default=False)

    @extend_schema(request={"multipart/form-data": DatasetImportInput}, responses={202: JobOutput})
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        data = self.DatasetImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        params = {key: value for key, value in data.validated_data.items() if key != "file"}
        job = imports.ava_import_start(
            dataset=dataset, upload=data.validated_data["file"], params=params, user=request.user
        )
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class ActionListApi(generics.ListAPIView):
    permission_classes = [HasRole]
    serializer_class = ActionOutput

    filter_backends = [FilterBackend]
    filterset_class = ActionFilter

    def get_queryset(self) -> Any:
        return Action.objects.order_by("dataset_id", "action_id")


# --- videos ------------------------------------------------------------------------------


class VideoListApi(generics.ListAPIView):
    permission_classes = [ReadOrManager]
    serializer_class = VideoOutput
    parser_classes = [MultiPartParser]

    class VideoListInput(serializers.Serializer):
        dataset = serializers.IntegerField()
        video_id = serializers.RegexField(VIDEO_ID_PATTERN)
        file = serializers.FileField()
        time_offset = serializers.FloatField(default=0.0, min_value=0.0)

    filter_backends = [FilterBackend]
    filterset_class = VideoFilter

    def get_queryset(self) -> Any:
        return Video.objects.order_by("dataset_id", "video_id")

    @extend_schema(
        request={"multipart/form-data": VideoListInput},
        responses={
            201: inline_serializer(
                "VideoCreated", {**VideoOutput().get_fields(), "ingest_job": JobOutput()}
            )
        },
    )
    def post(self, request: Request) -> Response:
        data = self.VideoListInput(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = get_object_or_404(Dataset, pk=data.validated_data["dataset"])
        video = videos.video_create(
            dataset=dataset,
            video_id=data.validated_data["video_id"],
            upload=data.validated_data["file"],
            time_offset=data.validated_data["time_offset"],
            user=request.user,
        )
        ingest_job = Job.objects.filter(video=video, job_type=Job.Type.INGEST).latest("pk")
        body = {**VideoOutput(video).data, "ingest_job": JobOutput(ingest_job).data}
        return Response(body, status=status.HTTP_201_CREATED)


class VideoDetailApi(APIView):
    permission_classes = [ReadOrManager]

    @extend_schema(responses=VideoOutput)
    def get(self, request: Request, video_id: int) -> Response:
        return Response(VideoOutput(get_object_or_404(Video, pk=video_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, video_id: int) -> Response:
        videos.video_delete(video=get_object_or_404(Video, pk=video_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- keyframes, boxes and labels -------------------------------------------------------------


class KeyframeListApi(generics.ListAPIView):
    permission_classes = [HasRole]
    serializer_class = KeyframeOutput

    filter_backends = [FilterBackend]
    filterset_class = KeyframeFilter

    def get_queryset(self) -> Any:
        return Keyframe.objects.all()


def keyframe_detail(*, keyframe_id: int, user: Any) -> dict[str, Any]:
    """A keyframe's REST resource; on a gold keyframe its boxes are the user's own blind answer
    (no suggestion, no one else's answer)."""
    keyframe = selectors.keyframe_get(keyframe_id=keyframe_id)
    detail = KeyframeDetailOutput(keyframe).data
    if keyframe.gold:
        detail["boxes"] = selectors_gold.gold_answer_boxes(keyframe_id=keyframe_id, user=user)
    return detail


class KeyframeDetailApi(APIView):
    permission_classes = [HasRole]

    class KeyframeDetailInput(serializers.Serializer):
        assignee = serializers.IntegerField(required=False, allow_null=True)
        excluded = serializers.BooleanField(required=False)
        gold = serializers.BooleanField(required=False)

    @extend_schema(responses=KeyframeDetailOutput)
    def get(self, request: Request, keyframe_id: int) -> Response:
        return Response(keyframe_detail(keyframe_id=keyframe_id, user=request.user))

    @extend_schema(request=KeyframeDetailInput, responses=KeyframeDetailOutput)
    def patch(self, request: Request, keyframe_id: int) -> Response:
        if not IsManager().has_permission(request, self):
            self.permission_denied(request, message=IsManager.message)
        data = self.KeyframeDetailInput(data=request.data)
        data.is_valid(raise_exception=True)
        get_object_or_404(Keyframe, pk=keyframe_id)
        annotations.keyframe_update(
            keyframe_id=keyframe_id, user=request.user, **data.validated_data
        )
        return Response(keyframe_detail(keyframe_id=keyframe_id, user=request.user))


class LabelInputSerializer(serializers.Serializer):
    action_id = serializers.IntegerField(min_value=0)
    state = serializers.ChoiceField(choices=State.choices, default="accepted")


class BoxInputSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False, allow_null=True)
    person_id = serializers.IntegerField(required=False, allow_null=True)
    x1 = serializers.FloatField(min_value=0.0, max_value=1.0)
    y1 = serializers.FloatField(min_value=0.0, max_value=1.0)
    x2 = serializers.FloatField(min_value=0.0, max_value=1.0)
    y2 = serializers.FloatField(min_value=0.0, max_value=1.0)
    state = serializers.ChoiceField(choices=State.choices, required=False, allow_null=True)
    labels = LabelInputSerializer(many=True, default=list)


class KeyframeAnnotationsApi(APIView):
    """Write one keyframe's boxes and labels in one request, carrying the keyframe version."""

    permission_classes = [HasRole]

    class KeyframeAnnotationsInput(serializers.Serializer):
        version = serializers.IntegerField(min_value=1)
        status = serializers.ChoiceField(choices=Keyframe.Status.values, required=False)
        boxes = BoxInputSerializer(many=True, max_length=200)

    @extend_schema(
        request=KeyframeAnnotationsInput,
        responses={
            200: KeyframeDetailOutput,
            409: inline_serializer(
                "KeyframeConflict",
                {"detail": serializers.CharField(), "current": KeyframeDetailOutput()},
            ),
        },
    )
    def put(self, request: Request, keyframe_id: int) -> Response:
        data = self.KeyframeAnnotationsInput(data=request.data)
        data.is_valid(raise_exception=True)
        get_object_or_404(Keyframe, pk=keyframe_id)
        boxes = [
            annotations.BoxInput(
                id=box.get("id"),
                person_id=box.get("person_id"),
                x1=box["x1"],
                y1=box["y1"],
                x2=box["x2"],
                y2=box["y2"],
                state=box.get("state"),
                labels=tuple(
                    annotations.LabelInput(action_id=label["action_id"], state=label["state"])
                    for label in box["labels"]
                ),
            )
            for box in data.validated_data["boxes"]
        ]
        try:
            annotations.keyframe_annotations_save(
                keyframe_id=keyframe_id,
                version=data.validated_data["version"],
                boxes=boxes,
                user=request.user,
                status=data.validated_data.get("status"),
            )
        except annotations.ConflictError as error:
            current = keyframe_detail(keyframe_id=keyframe_id, user=request.user)
            return Response(
                {"detail": error.message, "current": current}, status=status.HTTP_409_CONFLICT
            )
        return Response(keyframe_detail(keyframe_id=keyframe_id, user=request.user))


# --- jobs, model versions, reports -----------------------------------------------------------


class JobListApi(generics.ListAPIView):
    permission_classes = [HasRole]
    serializer_class = JobOutput

    filter_backends = [FilterBackend]
    filterset_class = JobFilter

    def get_queryset(self) -> Any:
        return Job.objects.order_by("-created_at", "-id").prefetch_related("depends_on")


class JobDetailApi(APIView):
    permission_classes = [HasRole]

    @extend_schema(responses=JobOutput)
    def get(self, request: Request, job_id: int) -> Response:
        return Response(JobOutput(get_object_or_404(Job, pk=job_id)).data)


class JobCancelApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(request=None, responses={200: JobOutput, 409: OpenApiTypes.OBJECT})
    def post(self, request: Request, job_id: int) -> Response:
        get_object_or_404(Job, pk=job_id)
        return Response(JobOutput(jobs.job_cancel(job_id=job_id)).data)


class ModelVersionListApi(generics.ListAPIView):
    permission_classes = [HasRole]
    serializer_class = ModelVersionOutput

    filter_backends = [FilterBackend]
    filterset_class = ModelVersionFilter

    def get_queryset(self) -> Any:
        return ModelVersion.objects.order_by("-created_at", "-id")


class ModelVersionDetailApi(APIView):
    permission_classes = [HasRole]

    @extend_schema(responses=ModelVersionOutput)
    def get(self, request: Request, model_version_id: int) -> Response:
        return Response(
            ModelVersionOutput(get_object_or_404(ModelVersion, pk=model_version_id)).data
        )


class ModelVersionActivateApi(APIView):
    """Promote a model version to be its dataset's active one (used by pre-annotation)."""

    permission_classes = [IsManager]

    @extend_schema(request=None, responses=DatasetOutput)
    def post(self, request: Request, model_version_id: int) -> Response:
        model_version = get_object_or_404(ModelVersion, pk=model_version_id)
        dataset = datasets.dataset_activate_model(model_version=model_version, user=request.user)
        return Response(DatasetOutput(dataset).data)


class EvaluationReportListApi(generics.ListAPIView):
    permission_classes = [HasRole]
    serializer_class = EvaluationReportOutput

    filter_backends = [FilterBackend]
    filterset_class = EvaluationReportFilter

    def get_queryset(self) -> Any:
        return EvaluationReport.objects.order_by("-created_at", "-id")
