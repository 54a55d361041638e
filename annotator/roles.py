"""Roles: reviewers read and edit keyframes assigned to them or unassigned; managers do everything
else a team lead does (import, export, assign, jobs, models). Roles are Django groups."""

from __future__ import annotations

from typing import Any, TypeAlias

from django.contrib.auth.models import Group, Permission

REVIEWER = "reviewer"
MANAGER = "manager"
ROLES = (REVIEWER, MANAGER)

# What a manager may do in the Django admin: the annotator models, nothing of auth or sessions.
MANAGER_ADMIN_MODELS = (
    "dataset",
    "action",
    "video",
    "keyframe",
    "personbox",
    "boxlabel",
    "modelversion",
    "job",
    "evaluationreport",
)

# A request's user: a Django user or AnonymousUser (the fields read here exist on both; with no
# Django type stubs installed, mypy cannot check them).
User: TypeAlias = Any


def role_of(user: User) -> str | None:
    """The user's role: manager (superusers too), reviewer, or None."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return MANAGER
    names = {group.name for group in user.groups.all()}
    if MANAGER in names:
        return MANAGER
    if REVIEWER in names:
        return REVIEWER
    return None


def is_manager(user: User) -> bool:
    return role_of(user) == MANAGER


def has_role(user: User) -> bool:
    return role_of(user) is not None


def roles_ensure() -> dict[str, Group]:
    """Create the role groups with their admin permissions (idempotent)."""
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}
    manager_permissions = Permission.objects.filter(
        content_type__app_label="annotator", content_type__model__in=MANAGER_ADMIN_MODELS
    )
    groups[MANAGER].permissions.set(manager_permissions)
    view_audit = Permission.objects.filter(
        content_type__app_label="annotator", codename="view_auditevent"
    )
    groups[MANAGER].permissions.add(*view_audit)
    return groups
