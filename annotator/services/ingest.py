"""Ingest: probe an uploaded video and create its keyframes."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from annotator.errors import ApplicationError
from annotator.models import Keyframe, Video


def video_ingest(*, video_id: int, context: Any = None) -> dict[str, Any]:
    """Probe the video file, record its properties and create keyframes at whole source seconds."""
    from inference.video import default_keyframes, probe

    video = Video.objects.get(pk=video_id)
    Video.objects.filter(pk=video_id).update(status=Video.Status.INGESTING, status_message="")
    try:
        info = probe(video.file.path)
    except ValueError as error:
        Video.objects.filter(pk=video_id).update(
            status=Video.Status.FAILED, status_message=str(error)
        )
        raise ApplicationError(f"video {video.video_id}: {error}") from error
    timestamps = default_keyframes(info.duration, video.time_offset)
    with transaction.atomic():
        Video.objects.filter(pk=video_id).update(
            fps=float(info.fps),
            frame_count=info.frame_count,
            duration=info.duration,
            width=info.width,
            height=info.height,
            codec=info.codec,
            keyframe_start=timestamps[0] if timestamps else None,
            keyframe_end=timestamps[-1] if timestamps else None,
            status=Video.Status.READY,
        )
        Keyframe.objects.bulk_create(
            [Keyframe(video_id=video_id, timestamp=timestamp) for timestamp in timestamps],
            ignore_conflicts=True,
        )
    return {"keyframes": len(timestamps), "fps": float(info.fps), "duration": info.duration}
