"""API permissions by role (annotator.roles)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from annotator.roles import has_role, is_manager


class HasRole(BasePermission):
    """Reviewers and managers; an account without a role sees nothing."""

    message = "your account has no role (reviewer or manager)"

    def has_permission(self, request: Any, view: Any) -> bool:
        return has_role(request.user)


class IsManager(BasePermission):
    message = "only managers may do this"

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_manager(request.user)


class ReadOrManager(BasePermission):
    """Reviewers read; managers also write."""

    message = "only managers may change this"

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return has_role(request.user)
        return is_manager(request.user)
