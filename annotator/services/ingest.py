"""Ingest: probe a video, create its keyframes and write the media the review UI shows for them.

`inference.media` writes, in one decode, every keyframe's image, model-frames sprite and context
clip under `derived_media_dir(video)`, and a manifest last; `keyframe_media` turns it into URLs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from annotator.errors import ApplicationError
from annotator.models import Dataset, Keyframe, Video
from annotator.services.jobs import JobCancelled
from annotator.services.videos import derived_media_dir

if TYPE_CHECKING:
    from inference.video import ClipSpec, VideoInfo


def video_ingest(*, video_id: int, context: Any = None) -> dict[str, Any]:
    """Probe the video, create its keyframes and write every keyframe's browser media."""
    from inference.video import probe

    video = Video.objects.select_related("dataset__active_model_version").get(pk=video_id)
    params = context.job.params if context is not None else {}
    name = f"video {video.video_id} ({Path(video.file.name).name})"
    Video.objects.filter(pk=video_id).update(status=Video.Status.INGESTING, status_message="")
    try:
        info = probe(video.file.path)
        timestamps = keyframe_timestamps(video=video, duration=info.duration, params=params)
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
            )
            Keyframe.objects.bulk_create(
                [Keyframe(video_id=video_id, timestamp=timestamp) for timestamp in timestamps],
                ignore_conflicts=True,
            )
        # Keyframes made earlier (by an AVA import) get media too, where they fall inside the file.
        inside = [
            timestamp
            for timestamp in video.keyframes.order_by("timestamp").values_list(
                "timestamp", flat=True
            )
            if 0 <= timestamp - video.time_offset <= info.duration
        ]
        if not inside:
            # A video with nothing to review is a failed ingest, not a ready one (a truncated
            # file often decodes to a fraction of a second).
            raise ValueError(
                f"no keyframe: the file decodes to {info.duration:.2f} s of video "
                f"({info.frame_count} frames), and keyframes are whole seconds at least 1 s "
                "from either end; the file may be truncated or too short"
            )
        media = _write_media(video, info, inside, ingest_clip_spec(video.dataset), context)
    except ValueError as error:
        # The message names the stored file by its name, not by its server path.
        message = f"{name}: {error}".replace(video.file.path, Path(video.file.name).name)
        _set_status(video_id, Video.Status.FAILED, message)
        raise ApplicationError(message) from error
    except JobCancelled:
        _set_status(video_id, Video.Status.UPLOADED, "ingest cancelled")
        raise
    except Exception as error:
        _set_status(video_id, Video.Status.FAILED, f"{name}: {type(error).__name__}: {error}")
        raise
    _set_status(video_id, Video.Status.READY, "")
    hours = info.duration / 3600
    return {
        "keyframes": len(timestamps),
        "media_keyframes": len(inside),
        "fps": float(info.fps),
        "variable_frame_rate": info.variable_frame_rate,
        "duration": info.duration,
        "frame_count": info.frame_count,
        "frames_decoded": media["frames_decoded"],
        "derived_bytes": media["bytes"],
        "derived_mb_per_hour": round(media["bytes"] / 1e6 / hours, 1) if hours else None,
    }


def _set_status(video_id: int, status: str, message: str) -> None:
    Video.objects.filter(pk=video_id).update(status=status, status_message=message)


def keyframe_timestamps(*, video: Video, duration: float, params: dict[str, Any]) -> list[int]:
    """The video's keyframes: the job's (or video's) `keyframe_start`/`_end`/`_step` if given,
    else every whole second at least 1 s from either end (902-1798 for AVA cut files)."""
    from inference.video import default_keyframes

    defaults = default_keyframes(duration, video.time_offset)
    start = params.get("keyframe_start", video.keyframe_start)
    end = params.get("keyframe_end", video.keyframe_end)
    step = params.get("keyframe_step", 1)
    if start is None and end is None and step == 1:
        return defaults
    first_second = math.ceil(video.time_offset)
    last_second = math.floor(video.time_offset + duration)
    start = defaults[0] if start is None and defaults else start
    end = defaults[-1] if end is None and defaults else end
    for field, value in (("keyframe_start", start), ("keyframe_end", end)):
        if not isinstance(value, int) or not first_second <= value <= last_second:
            raise ApplicationError(
                f"{field} = {value!r}: must be a whole second of source time within the file "
                f"({first_second} to {last_second})"
            )
    if not isinstance(step, int) or step < 1:
        raise ApplicationError(f"keyframe_step = {step!r}: must be a positive integer")
    return list(range(start, end + 1, step))


def ingest_clip_spec(dataset: Dataset) -> ClipSpec:
    """The clip rule of the dataset's active model, or of the `small` preset when it has none."""
    from inference.checkpoints import config_to_dict
    from inference.models import preset
    from inference.video import ClipSpec

    version = dataset.active_model_version
    config = version.config if version is not None and version.config else None
    values = config or config_to_dict(preset("small"))
    return ClipSpec(
        num_frames=int(values["num_frames"]), alpha=int(values["alpha"]), tau=int(values["tau"])
    )


def _write_media(
    video: Video, info: VideoInfo, timestamps: list[int], spec: ClipSpec, context: Any
) -> dict[str, Any]:
    """Every keyframe's browser media, written by `inference.media` in one decode."""
    from inference.media import write_keyframe_media

    def progress(done: int, total: int) -> None:
        if context is not None:
            context.check_cancel()
            context.progress(0.95 * done / total, f"keyframe {done}/{total}")

    return write_keyframe_media(
        video.file.path,
        derived_media_dir(video),
        info,
        timestamps,
        video.time_offset,
        spec,
        progress,
    )


def keyframe_media(*, keyframe: Keyframe) -> dict[str, Any] | None:
    """URLs and frame facts of a keyframe's derived media; None until its video is ingested."""
    from inference.media import MANIFEST

    directory = derived_media_dir(keyframe.video)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        return None
    entry = manifest["keyframes"].get(str(keyframe.timestamp))
    if entry is None:
        return None
    base = f"{settings.MEDIA_URL}{directory.relative_to(settings.MEDIA_ROOT).as_posix()}/"
    context = entry.get("context")
    return {
        "image": base + entry["image"],
        "frame": entry["frame"],
        "model_frames": {
            "sprite": base + entry["model_frames"],
            "tile": manifest["tile"],
            "columns": manifest["columns"],
            "frame_indices": entry["model_frame_indices"],
            "slow_positions": manifest["clip"]["slow_indices"],
            "keyframe_position": manifest["clip"]["keyframe_index"],
        },
        "context": None
        if context is None
        else {
            "clip": base + context["path"],
            "first_frame": context["first_frame"],
            "frames": context["frames"],
            "keyframe_offset": entry["time"] - context["start"],
        },
    }
