"""Output serializers shared by several endpoints; input serializers live beside their views."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotator.models import (
    Action,
    BoxLabel,
    Dataset,
    EvaluationReport,
    Job,
    Keyframe,
    ModelVersion,
    PersonBox,
    Video,
)


class DatasetOutput(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = ["id", "name", "description", "review_rules", "active_model_version", "created_at"]


class ActionOutput(serializers.ModelSerializer):
    class Meta:
        model = Action
        fields = ["id", "dataset", "action_id", "name", "action_type", "evaluated"]


class VideoOutput(serializers.ModelSerializer):
    class Meta:
        model = Video
        fields = [
            "id",
            "dataset",
            "video_id",
            "time_offset",
            "fps",
            "frame_count",
            "duration",
            "width",
            "height",
            "codec",
            "size_bytes",
            "status",
            "status_message",
            "keyframe_start",
            "keyframe_end",
            "created_at",
        ]


class BoxLabelOutput(serializers.ModelSerializer):
    id = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="null on a gold keyframe (a blind answer)"
    )
    action_id = serializers.IntegerField(source="action.action_id")

    class Meta:
        model = BoxLabel
        fields = ["id", "action_id", "source", "state", "score"]


class PersonBoxOutput(serializers.ModelSerializer):
    labels = BoxLabelOutput(many=True)

    class Meta:
        model = PersonBox
        fields = [
            "id",
            "person_id",
            "x1",
            "y1",
            "x2",
            "y2",
            "source",
            "state",
            "model_version",
            "detector_score",
            "labels",
        ]


class KeyframeOutput(serializers.ModelSerializer):
    class Meta:
        model = Keyframe
        fields = [
            "id",
            "video",
            "timestamp",
            "status",
            "assignee",
            "reviewed_by",
            "reviewed_at",
            "version",
            "excluded",
            "gold",
        ]


class KeyframeModelFramesOutput(serializers.Serializer):
    sprite = serializers.CharField(help_text="URL of the sprite of the frames the model saw")
    tile = serializers.ListField(child=serializers.IntegerField(), help_text="[width, height]")
    columns = serializers.IntegerField()
    frame_indices = serializers.ListField(child=serializers.IntegerField())
    slow_positions = serializers.ListField(child=serializers.IntegerField())
    keyframe_position = serializers.IntegerField()


class KeyframeContextOutput(serializers.Serializer):
    clip = serializers.CharField(help_text="URL of the context clip around the keyframe")
    first_frame = serializers.IntegerField()
    frames = serializers.IntegerField()
    keyframe_offset = serializers.FloatField(help_text="seconds from the clip's start")


class KeyframeMediaOutput(serializers.Serializer):
    """A keyframe's derived media: the image, the model frames' sprite and the context clip."""

    image = serializers.CharField(help_text="URL of the keyframe image")
    frame = serializers.IntegerField(help_text="index of the video frame shown")
    model_frames = KeyframeModelFramesOutput()
    context = KeyframeContextOutput(allow_null=True)


class KeyframeDetailOutput(KeyframeOutput):
    boxes = PersonBoxOutput(many=True)
    media = serializers.SerializerMethodField(
        help_text="URLs of the keyframe image, the model frames' sprite and the context clip, "
        "with frame facts; null until the video is ingested."
    )

    class Meta(KeyframeOutput.Meta):
        fields = [*KeyframeOutput.Meta.fields, "boxes", "media"]

    @extend_schema_field(KeyframeMediaOutput(allow_null=True))
    def get_media(self, keyframe: Keyframe) -> dict[str, Any] | None:
        from annotator.services.ingest import keyframe_media

        return keyframe_media(keyframe=keyframe)


class JobOutput(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = [
            "id",
            "job_type",
            "status",
            "progress",
            "message",
            "params",
            "result",
            "dataset",
            "video",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "worker",
            "attempts",
            "cancel_requested",
            "depends_on",
        ]


class ModelVersionOutput(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "dataset",
            "name",
            "status",
            "config",
            "label_map",
            "preprocess",
            "sha256",
            "parent",
            "training_snapshot_hash",
            "hyperparameters",
            "metrics",
            "created_by",
            "created_at",
        ]


class EvaluationReportOutput(serializers.ModelSerializer):
    class Meta:
        model = EvaluationReport
        fields = [
            "id",
            "dataset",
            "model_version",
            "job",
            "box_source",
            "snapshot_hash",
            "params",
            "mean_ap",
            "per_class",
            "per_type",
            "created_at",
        ]


def version_in_dataset(dataset: Dataset, pk: int, name: str) -> ModelVersion:
    """The dataset's model version `pk`; a 400 naming the input field `name` otherwise."""
    version = ModelVersion.objects.filter(dataset=dataset, pk=pk).first()
    if version is None:
        raise serializers.ValidationError({name: f"{pk}: no such model version in this dataset"})
    return version
