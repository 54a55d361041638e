"""Remappable keys: each user's bindings, command -> key, stored over the review page's defaults
(the same table as static/js/review/keys.js; a test keeps the two equal). Two commands on one key
are refused."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction

from annotator.errors import ApplicationError
from annotator.models import AuditEvent, ReviewerSettings

DEFAULT_KEYS: dict[str, str] = {
    "help": "?",
    "play": " ",
    "framePrev": ",",
    "frameNext": ".",
    "boxNext": "Tab",
    "boxPrev": "Shift+Tab",
    "draw": "d",
    "delete": "Delete",
    "acceptBox": "a",
    "acceptAll": "Shift+A",
    "rejectBox": "r",
    "carry": "c",
    "flag": "f",
    "filter": "/",
    "personId": "i",
    "undo": "Ctrl+Z",
    "redo": "Ctrl+Shift+Z",
    "save": "Ctrl+S",
    "reviewNext": "Ctrl+Enter",
    "nextKeyframe": "n",
    "prevKeyframe": "p",
    "zoomIn": "+",
    "zoomOut": "-",
    "zoomReset": "0",
}
# What the page's key reader names a key press: modifiers, then one character or a key name.
KEY_PATTERN = re.compile(r"^(Ctrl\+)?(Shift\+)?([^\s+]|\+|[A-Z][A-Za-z0-9]{1,19}| )$")


def keys_effective(bindings: dict[str, str]) -> dict[str, str]:
    """The defaults with the user's bindings over them."""
    return {command: bindings.get(command, key) for command, key in DEFAULT_KEYS.items()}


def reviewer_keys_update(*, user: Any, bindings: dict[str, Any]) -> dict[str, str]:
    """Store the user's bindings (command -> key; commands left out keep their default key);
    refuses unknown commands, malformed keys and two commands on one key. Returns the effective
    bindings."""
    unknown = sorted(set(bindings) - set(DEFAULT_KEYS))
    if unknown:
        raise ApplicationError(f"unknown commands {unknown}; known: {sorted(DEFAULT_KEYS)}")
    for command, key in bindings.items():
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise ApplicationError(
                f"field {command!r} = {key!r}: not a key (a character or a key name such as "
                "'Enter', optionally after 'Ctrl+' and 'Shift+')"
            )
    effective = keys_effective(bindings)
    by_key: dict[str, list[str]] = {}
    for command, key in effective.items():
        by_key.setdefault(key, []).append(command)
    clashes = {key: commands for key, commands in by_key.items() if len(commands) > 1}
    if clashes:
        text = "; ".join(
            f"{'Space' if key == ' ' else key} is bound to both {' and '.join(sorted(commands))}"
            for key, commands in sorted(clashes.items())
        )
        raise ApplicationError(f"key conflict: {text}", extra={"conflicts": clashes})
    overrides = {command: key for command, key in effective.items() if key != DEFAULT_KEYS[command]}
    with transaction.atomic():
        row, _ = ReviewerSettings.objects.select_for_update().get_or_create(user=user)
        before = row.key_bindings
        row.key_bindings = overrides
        row.save(update_fields=["key_bindings", "updated_at"])
        AuditEvent.objects.create(
            user=user,
            verb="keys.update",
            object_type="reviewer_settings",
            object_id=row.pk,
            before=before,
            after=overrides,
        )
    return effective


def reviewer_keys_reset(*, user: Any) -> dict[str, str]:
    """Return the user's keys to the defaults."""
    return reviewer_keys_update(user=user, bindings={})
