"""REST: managers assign keyframes to reviewers and release them; the per-reviewer summary."""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors_review
from annotator.api.permissions import IsManager
from annotator.services.assignment import ASSIGNMENT_ACTIONS, keyframes_assign
from annotator.services.gold import keyframes_mark_gold

ID = {"min_value": 1, "max_value": 2**63 - 1}
# Input fields that name a row, and the services' keyword arguments for them.
ID_ARGUMENTS = {"reviewer": "reviewer_id", "video": "video_id", "dataset": "dataset_id"}


def _keyframes_post(
    request: Request,
    input_class: type[serializers.Serializer],
    service: Callable[..., list[int]],
) -> Response:
    """Validate the body, call the keyframes service with it, answer the keyframes it changed."""
    data = input_class(data=request.data)
    data.is_valid(raise_exception=True)
    arguments = {ID_ARGUMENTS.get(name, name): value for name, value in data.validated_data.items()}
    return Response({"keyframes": service(user=request.user, **arguments)})


class AssignmentSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    assigned_open = serializers.IntegerField()
    assigned_reviewed = serializers.IntegerField()


class AssignmentsApi(APIView):
    """GET: per reviewer, the keyframes assigned to them (to review, reviewed). POST: assign a
    range of a video's keyframes, a whole video, or `count` keyframes of a video or dataset to a
    reviewer (`action` assign), or release them (`action` release; without `reviewer`, anyone's).
    Managers only."""

    permission_classes = [IsManager]

    class AssignmentInput(serializers.Serializer):
        action = serializers.ChoiceField(choices=list(ASSIGNMENT_ACTIONS))
        reviewer = serializers.IntegerField(required=False, allow_null=True, **ID)
        video = serializers.IntegerField(required=False, allow_null=True, **ID)
        dataset = serializers.IntegerField(required=False, allow_null=True, **ID)
        timestamp_from = serializers.IntegerField(
            required=False, allow_null=True, min_value=-(2**31), max_value=2**31 - 1
        )
        timestamp_to = serializers.IntegerField(
            required=False, allow_null=True, min_value=-(2**31), max_value=2**31 - 1
        )
        count = serializers.IntegerField(
            required=False, allow_null=True, min_value=1, max_value=2**31 - 1
        )

    @extend_schema(responses=AssignmentSummaryOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(
            AssignmentSummaryOutput(selectors_review.assignment_summary(), many=True).data
        )

    @extend_schema(
        request=AssignmentInput,
        responses=inline_serializer(
            "AssignmentResult",
            {"keyframes": serializers.ListField(child=serializers.IntegerField())},
        ),
    )
    def post(self, request: Request) -> Response:
        return _keyframes_post(request, self.AssignmentInput, keyframes_assign)


class GoldSampleApi(APIView):
    """Mark `count` keyframes drawn at random from a video's or dataset's keyframes still to
    review gold (reviewed blind). Managers only."""

    permission_classes = [IsManager]

    class GoldSampleInput(serializers.Serializer):
        video = serializers.IntegerField(required=False, allow_null=True, **ID)
        dataset = serializers.IntegerField(required=False, allow_null=True, **ID)
        count = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
        seed = serializers.IntegerField(
            required=False, allow_null=True, min_value=0, max_value=2**31 - 1
        )

    @extend_schema(
        request=GoldSampleInput,
        responses=inline_serializer(
            "GoldSampleResult",
            {"keyframes": serializers.ListField(child=serializers.IntegerField())},
        ),
    )
    def post(self, request: Request) -> Response:
        return _keyframes_post(request, self.GoldSampleInput, keyframes_mark_gold)
