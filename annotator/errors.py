"""Errors that services raise and the API maps to responses."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A request that cannot be carried out as asked; the API answers 400 with the message."""

    status_code = 400

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ConflictError(ApplicationError):
    """The request is based on a stale version, or collides with work in progress (409)."""

    status_code = 409


class NotAllowedError(ApplicationError):
    """The user's role does not allow this (403)."""

    status_code = 403
