"""One exception handler: ApplicationError and its kinds become 400/403/409 with their message."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotator.errors import ApplicationError


def exception_handler(error: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(error, ApplicationError):
        body = {"detail": error.message, **error.extra}
        return Response(body, status=error.status_code)
    if isinstance(error, DjangoValidationError):
        error = exceptions.ValidationError(error.messages)
    return drf_exception_handler(error, context)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 as JSON under /api/ (an id that is not a number misses every route), HTML elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)
