"""REST for managers: the reviewers' answers on gold keyframes, approving one as the keyframe's
gold answer, and the per-reviewer figures."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors_gold
from annotator.api.filters import FilterBackend, GoldAnswerFilter
from annotator.api.permissions import IsManager
from annotator.models import GoldAnswer
from annotator.services.gold import gold_answer_approve


class GoldAnswerBoxOutput(serializers.Serializer):
    id = serializers.IntegerField()
    person_id = serializers.IntegerField(allow_null=True)
    x1 = serializers.FloatField()
    y1 = serializers.FloatField()
    x2 = serializers.FloatField()
    y2 = serializers.FloatField()
    labels = serializers.ListField(child=serializers.IntegerField(), help_text="action ids")


class GoldAnswerOutput(serializers.ModelSerializer):
    video = serializers.IntegerField(source="keyframe.video_id")
    timestamp = serializers.IntegerField(source="keyframe.timestamp")
    reviewer = serializers.IntegerField(source="reviewer_id")
    reviewer_name = serializers.CharField(source="reviewer.username")
    boxes = GoldAnswerBoxOutput(many=True)
    approved_by = serializers.IntegerField(source="approved_by_id", allow_null=True)

    class Meta:
        model = GoldAnswer
        fields = [
            "id",
            "keyframe",
            "video",
            "timestamp",
            "reviewer",
            "reviewer_name",
            "boxes",
            "submitted_at",
            "approved_by",
            "approved_at",
            "created_at",
            "updated_at",
        ]


class GoldAnswerListApi(generics.ListAPIView):
    """Every reviewer's answer on gold keyframes (`?keyframe=&reviewer=&approved=`): the boxes
    and action ids as answered, when submitted, and whether and by whom approved. Managers only:
    reviewers answer blind."""

    permission_classes = [IsManager]
    serializer_class = GoldAnswerOutput
    filter_backends = [FilterBackend]
    filterset_class = GoldAnswerFilter

    def get_queryset(self) -> Any:
        return selectors_gold.gold_answer_list()


class GoldAnswerApproveInput(serializers.Serializer):
    replace = serializers.BooleanField(
        default=False,
        help_text="take the place of the keyframe's approved answer (else that is a 409)",
    )


class GoldAnswerApproveApi(APIView):
    """Approve a submitted answer as its keyframe's gold answer: its boxes and labels become the
    keyframe's ground truth, the keyframe is reviewed. A keyframe with an approved answer is a
    409 unless `replace` is true. Managers only."""

    permission_classes = [IsManager]

    @extend_schema(request=GoldAnswerApproveInput, responses=GoldAnswerOutput)
    def post(self, request: Request, answer_id: int) -> Response:
        get_object_or_404(GoldAnswer, pk=answer_id)
        body = GoldAnswerApproveInput(data=request.data)
        body.is_valid(raise_exception=True)
        gold_answer_approve(
            answer_id=answer_id, user=request.user, replace=body.validated_data["replace"]
        )
        return Response(GoldAnswerOutput(selectors_gold.gold_answer_list().get(pk=answer_id)).data)


class ReviewerFiguresOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    keyframes_reviewed = serializers.IntegerField(
        help_text="keyframes marked reviewed (not gold) and gold answers submitted"
    )
    reviewed_per_hour = serializers.FloatField(
        allow_null=True, help_text="over the gaps between reviews of at most 10 minutes"
    )
    suggestions = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="machine boxes and labels on the keyframes they reviewed: accepted, edited, "
        "rejected",
    )
    gold = serializers.DictField(
        help_text="agreement with the approved gold answers: keyframes, gold_boxes, "
        "answer_boxes, matched_boxes (IoU >= 0.5, greedy), box_recall, box_precision, "
        "label_f1 (per action type, over matched boxes)"
    )
    links = serializers.DictField(
        child=serializers.CharField(),
        help_text="the page listing the keyframes behind each figure",
    )


class ReviewerFiguresApi(APIView):
    """Per reviewer: keyframes reviewed per hour, suggestions accepted / edited / rejected, and
    agreement with the approved gold answers, each with a link to its keyframes. Managers only."""

    permission_classes = [IsManager]

    @extend_schema(responses=ReviewerFiguresOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(ReviewerFiguresOutput(selectors_gold.reviewer_figures(), many=True).data)
