"""REST: the user's key bindings (read, remap, reset to the defaults)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors_review
from annotator.api.permissions import HasRole
from annotator.services.keys import DEFAULT_KEYS, reviewer_keys_reset, reviewer_keys_update


class KeyBindingsOutput(serializers.Serializer):
    bindings = serializers.DictField(child=serializers.CharField(), help_text="command -> key")
    defaults = serializers.DictField(child=serializers.CharField())


def _output(bindings: dict[str, str]) -> dict[str, object]:
    return KeyBindingsOutput({"bindings": bindings, "defaults": DEFAULT_KEYS}).data


class KeyBindingsApi(APIView):
    """GET the user's keys; PUT remaps (command -> key; a conflict is refused with a 400 naming
    the commands); DELETE returns to the defaults."""

    permission_classes = [HasRole]

    class KeyBindingsInput(serializers.Serializer):
        bindings = serializers.DictField(
            child=serializers.CharField(max_length=40, trim_whitespace=False)
        )

    @extend_schema(responses=KeyBindingsOutput)
    def get(self, request: Request) -> Response:
        return Response(_output(selectors_review.reviewer_keys(user=request.user)))

    @extend_schema(request=KeyBindingsInput, responses=KeyBindingsOutput)
    def put(self, request: Request) -> Response:
        data = self.KeyBindingsInput(data=request.data)
        data.is_valid(raise_exception=True)
        bindings = reviewer_keys_update(user=request.user, bindings=data.validated_data["bindings"])
        return Response(_output(bindings))

    @extend_schema(request=None, responses={200: KeyBindingsOutput})
    def delete(self, request: Request) -> Response:
        return Response(_output(reviewer_keys_reset(user=request.user)))
