"""User accounts with roles."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from annotator.errors import ApplicationError
from annotator.roles import MANAGER, ROLES, roles_ensure


def user_create(*, username: str, role: str, password: str, email: str = "") -> Any:
    """Create an account in a role; managers get staff access with the manager permissions only."""
    if role not in ROLES:
        raise ApplicationError(f"role {role!r}: must be one of {ROLES}")
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ApplicationError(f"user {username!r} exists already")
    with transaction.atomic():
        groups = roles_ensure()
        user = User.objects.create_user(
            username=username, email=email, password=password, is_staff=role == MANAGER
        )
        user.groups.add(groups[role])
    return user


def user_token_get(*, user: Any) -> str:
    """The user's API token key, created on first use."""
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    return token.key
