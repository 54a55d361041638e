"""REST endpoints of the review UI: the work queue (peek, take), a keyframe's lease (renew,
release), the keyframe with everything its page shows, and the flag / excluded marks."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, selectors_review
from annotator.api.permissions import HasRole
from annotator.api.serializers import KeyframeMediaOutput, KeyframeOutput
from annotator.models import Keyframe
from annotator.services import review

QUEUE_PARAMETERS = [
    OpenApiParameter("dataset", int, description="only this dataset's keyframes"),
    OpenApiParameter("video", int, description="only this video's keyframes"),
    OpenApiParameter("skip", int, description="leave this keyframe out (the one open now)"),
    OpenApiParameter(
        "order",
        str,
        enum=list(review.QUEUE_ORDERS),
        description="`default`: video and time order; `uncertain`: least confident first",
    ),
]


class QueueFilters(serializers.Serializer):
    dataset = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    video = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    skip = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    order = serializers.ChoiceField(choices=review.QUEUE_ORDERS, default="default")


class LeaseOutput(serializers.Serializer):
    keyframe = serializers.IntegerField()
    lease_until = serializers.DateTimeField(allow_null=True)
    lease_seconds = serializers.IntegerField()


class ReviewQueueApi(APIView):
    """The reviewer's queue: how many keyframes wait, and the next one (GET, takes nothing);
    POST leases the next one to the reviewer (`keyframe` is null when the queue is empty)."""

    permission_classes = [HasRole]

    @extend_schema(
        parameters=QUEUE_PARAMETERS,
        responses=inline_serializer(
            "ReviewQueue",
            {
                "count": serializers.IntegerField(),
                "next": serializers.IntegerField(allow_null=True),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        filters = QueueFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        return Response(
            selectors_review.review_queue_peek(
                user=request.user,
                dataset_id=data.get("dataset"),
                video_id=data.get("video"),
                skip=data.get("skip"),
                order=data["order"],
            )
        )

    @extend_schema(
        request=QueueFilters,
        responses=inline_serializer(
            "ReviewTake", {"keyframe": serializers.IntegerField(allow_null=True)}
        ),
    )
    def post(self, request: Request) -> Response:
        filters = QueueFilters(data=request.data)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        keyframe = review.keyframe_take(
            user=request.user,
            dataset_id=data.get("dataset"),
            video_id=data.get("video"),
            skip=data.get("skip"),
            order=data["order"],
        )
        return Response({"keyframe": keyframe.pk if keyframe else None})


class KeyframeLeaseApi(APIView):
    """Renew (PUT) or release (DELETE) the reviewer's lease on a keyframe."""

    permission_classes = [HasRole]

    @extend_schema(request=None, responses={200: LeaseOutput, 409: {"type": "object"}})
    def put(self, request: Request, keyframe_id: int) -> Response:
        get_object_or_404(Keyframe, pk=keyframe_id)
        keyframe = review.keyframe_lease_renew(user=request.user, keyframe_id=keyframe_id)
        return Response(
            LeaseOutput(
                {
                    "keyframe": keyframe.pk,
                    "lease_until": keyframe.lease_until,
                    "lease_seconds": review.lease_seconds(),
                }
            ).data
        )

    @extend_schema(responses={204: None})
    def delete(self, request: Request, keyframe_id: int) -> Response:
        get_object_or_404(Keyframe, pk=keyframe_id)
        review.keyframe_lease_release(user=request.user, keyframe_id=keyframe_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReviewLabelOutput(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="null on a gold keyframe")
    action_id = serializers.IntegerField()
    source = serializers.CharField()
    state = serializers.CharField()
    score = serializers.FloatField(allow_null=True)


class ReviewBoxOutput(serializers.Serializer):
    id = serializers.IntegerField()
    person_id = serializers.IntegerField(allow_null=True)
    x1 = serializers.FloatField()
    y1 = serializers.FloatField()
    x2 = serializers.FloatField()
    y2 = serializers.FloatField()
    source = serializers.CharField()
    state = serializers.CharField()
    detector_score = serializers.FloatField(allow_null=True)
    labels = ReviewLabelOutput(many=True)


class KeyframeReviewOutput(serializers.Serializer):
    keyframe = inline_serializer(
        "ReviewKeyframe",
        {
            "id": serializers.IntegerField(),
            "video": serializers.IntegerField(),
            "timestamp": serializers.IntegerField(),
            "status": serializers.CharField(),
            "version": serializers.IntegerField(),
            "gold": serializers.BooleanField(),
            "gold_answer": serializers.ChoiceField(
                choices=["none", "draft", "submitted"],
                allow_null=True,
                help_text="on a gold keyframe, where the user's own blind answer stands",
            ),
            "excluded": serializers.BooleanField(),
            "flag_comment": serializers.CharField(allow_blank=True),
            "assignee": serializers.CharField(allow_null=True),
            "lease_holder": serializers.CharField(allow_null=True),
            "lease_until": serializers.DateTimeField(allow_null=True),
            "reviewed_by": serializers.CharField(allow_null=True),
            "reviewed_at": serializers.DateTimeField(allow_null=True),
        },
    )
    video = inline_serializer(
        "ReviewVideo",
        {
            "id": serializers.IntegerField(),
            "video_id": serializers.CharField(),
            "fps": serializers.FloatField(allow_null=True),
            "width": serializers.IntegerField(allow_null=True),
            "height": serializers.IntegerField(allow_null=True),
            "time_offset": serializers.FloatField(),
        },
    )
    dataset = inline_serializer(
        "ReviewDataset",
        {
            "id": serializers.IntegerField(),
            "name": serializers.CharField(),
            "review_rules": serializers.JSONField(),
        },
    )
    media = KeyframeMediaOutput(
        allow_null=True,
        help_text="URLs of the keyframe image, the model frames' sprite and the context clip, "
        "with frame facts; null until the video is ingested.",
    )
    boxes = ReviewBoxOutput(many=True)
    previous = inline_serializer(
        "ReviewPrevious",
        {
            "id": serializers.IntegerField(),
            "timestamp": serializers.IntegerField(),
            "boxes": ReviewBoxOutput(many=True),
        },
        allow_null=True,
    )
    neighbours = inline_serializer(
        "ReviewNeighbours",
        {
            "previous": serializers.IntegerField(allow_null=True),
            "next": serializers.IntegerField(allow_null=True),
        },
    )
    tracks = inline_serializer(
        "ReviewTracks",
        {
            side: inline_serializer(
                f"ReviewTrack{side.title()}",
                {
                    "person_id": serializers.IntegerField(),
                    "x1": serializers.FloatField(),
                    "y1": serializers.FloatField(),
                    "x2": serializers.FloatField(),
                    "y2": serializers.FloatField(),
                },
                many=True,
            )
            for side in ("previous", "next")
        },
        help_text="Boxes with a person id on the previous and next keyframes (none on gold).",
    )
    actions = inline_serializer(
        "ReviewAction",
        {
            "action_id": serializers.IntegerField(),
            "name": serializers.CharField(),
            "action_type": serializers.CharField(),
            "uses": serializers.IntegerField(),
        },
        many=True,
    )
    read_only = serializers.CharField(allow_null=True)


class KeyframeReviewApi(APIView):
    """A keyframe as the review page shows it: boxes and suggestions (none on gold keyframes),
    media URLs, the previous keyframe's ground truth, neighbours, actions and whether the user
    may edit it."""

    permission_classes = [HasRole]

    @extend_schema(responses=KeyframeReviewOutput)
    def get(self, request: Request, keyframe_id: int) -> Response:
        return Response(
            KeyframeReviewOutput(
                selectors_review.keyframe_review(keyframe_id=keyframe_id, user=request.user)
            ).data
        )


class KeyframeMarkApi(APIView):
    """Flag a keyframe with a comment, or mark it excluded, carrying the keyframe's version."""

    permission_classes = [HasRole]

    class KeyframeMarkInput(serializers.Serializer):
        version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
        mark = serializers.ChoiceField(choices=list(review.MARKS))
        comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    @extend_schema(
        request=KeyframeMarkInput, responses={200: KeyframeOutput, 409: {"type": "object"}}
    )
    def post(self, request: Request, keyframe_id: int) -> Response:
        data = self.KeyframeMarkInput(data=request.data)
        data.is_valid(raise_exception=True)
        get_object_or_404(Keyframe, pk=keyframe_id)
        review.keyframe_mark(
            user=request.user,
            keyframe_id=keyframe_id,
            version=data.validated_data["version"],
            mark=data.validated_data["mark"],
            comment=data.validated_data.get("comment", ""),
        )
        return Response(KeyframeOutput(selectors.keyframe_get(keyframe_id=keyframe_id)).data)
