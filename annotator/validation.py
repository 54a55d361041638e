"""Checks of text that comes in from outside (names, ids, label maps), made once at the boundary."""

from __future__ import annotations

import re

from annotator.errors import ApplicationError

# The AVA video-id rule, for uploads, imports and server-side files alike.
VIDEO_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,200}$"
VIDEO_ID = re.compile(VIDEO_ID_PATTERN)
# C0 and C1 control characters (NUL included) and DEL; `multiline` text may keep tab and newline.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def text_check(*, field: str, value: str, multiline: bool = False) -> str:
    """Refuse text with control characters (a NUL never reaches the database), naming the field."""
    if (CONTROL_MULTILINE if multiline else CONTROL).search(value):
        raise ApplicationError(f"field {field!r} = {value!r}: control characters are not allowed")
    return value


def video_id_check(*, value: str, where: str = "") -> str:
    """Refuse a video id outside the AVA rule; `where` (e.g. `file:line: `) leads the message."""
    if not VIDEO_ID.fullmatch(value):
        raise ApplicationError(
            f"{where}field 'video_id' = {value!r}: must match {VIDEO_ID_PATTERN} "
            "(letters, digits, _ . -; at most 200)"
        )
    return value
