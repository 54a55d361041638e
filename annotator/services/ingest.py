"""Ingest: probe a video, create its keyframes and write the media the review UI shows for them.

One front-to-back decode writes, for every keyframe inside the file: the keyframe image, the frames
the model sees by the clip rule (one sprite image, tiles in clip order) and a context clip of
+-1.5 s (H.264 mp4), all at most 360p, under `derived_media_dir(video)`. The manifest written there
last says which source frames each file shows; `keyframe_media` turns it into URLs.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Generator, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from annotator.errors import ApplicationError
from annotator.models import Dataset, Keyframe, Video
from annotator.services.jobs import JobCancelled
from annotator.services.videos import derived_media_dir

if TYPE_CHECKING:
    import av
    from PIL import Image

    from inference.video import ClipSpec, Frame, VideoInfo

SHORT_SIDE = 360  # derived media are at most 360p
CONTEXT_SECONDS = Fraction(3, 2)  # the context clip runs this long before and after the keyframe
JPEG_QUALITY = 80
SPRITE_QUALITY = 70  # thumbnails: the budget matters more than their fine detail
# Constant quality, capped: clips overlap three-fold at one keyframe per second, and all derived
# media must stay under 500 MB per hour of 360p video even for noisy footage.
CLIP_OPTIONS = {"preset": "veryfast", "crf": "30", "maxrate": "150000", "bufsize": "150000"}
CLIP_TIME_BASE = Fraction(1, 90000)
MIN_TILE_SIDE = 64
MANIFEST = "manifest.json"
PROGRESS_EVERY = 10  # keyframes between progress reports and cancel checks


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


def derived_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of derived media: short side at most 360, both even (H.264 4:2:0)."""
    from inference.video import resized_size

    width, height = resized_size(width, height, min(SHORT_SIDE, width, height))
    return max(2, width - width % 2), max(2, height - height % 2)


def tile_size(size: tuple[int, int], count: int) -> tuple[int, int]:
    """Size of one tile of the model-frames sprite: the sprite holds about one frame's pixels."""
    from inference.video import resized_size

    width, height = size
    short = max(MIN_TILE_SIDE, round(min(width, height) / math.sqrt(count)))
    return resized_size(width, height, min(short, width, height))


def _write_media(
    video: Video, info: VideoInfo, timestamps: list[int], spec: ClipSpec, context: Any
) -> dict[str, Any]:
    """Decode once, writing each keyframe's image, model-frames sprite and context clip."""
    from inference.video import DecodeStats, gather_frames, iter_frames, keyframe_file_time

    directory = derived_media_dir(video)
    # The manifest goes last: a directory without one is an ingest that did not finish.
    shutil.rmtree(directory, ignore_errors=True)
    for folder in ("keyframes", "model-frames", "context"):
        (directory / folder).mkdir(parents=True)
    size = derived_size(info.width, info.height)
    tile = tile_size(size, spec.fast_length)
    columns = math.ceil(math.sqrt(spec.fast_length))
    times = {ts: keyframe_file_time(ts, video.time_offset) for ts in timestamps}
    clips = _ContextClips(
        directory,
        {ts: (time - CONTEXT_SECONDS, time + CONTEXT_SECONDS) for ts, time in times.items()},
        size,
        Fraction(info.fps).limit_denominator(1001),
    )
    stats = DecodeStats()
    frames = iter_frames(video.file.path, stats=stats)
    tap = _feeding(frames, clips)
    entries: dict[str, dict[str, Any]] = {}

    def convert(frame: Frame) -> tuple[int, Image.Image]:
        return frame.index, frame.image.to_image(
            width=size[0], height=size[1], interpolation="BILINEAR"
        )

    try:
        requests = {ts: spec.fast_times(time) for ts, time in times.items()}
        gathered = gather_frames(tap, requests, convert)
        for done, (timestamp, pictures) in enumerate(gathered, start=1):
            entries[str(timestamp)] = _write_keyframe(
                directory, timestamp, times[timestamp], pictures, spec, tile, columns
            )
            if context is not None and (done % PROGRESS_EVERY == 0 or done == len(times)):
                context.check_cancel()
                context.progress(0.95 * done / len(times), f"keyframe {done}/{len(times)}")
        for _ in tap:  # the rest of the video still belongs to the last context clips
            pass
        clips.finish()
    finally:
        tap.close()
        frames.close()
        clips.abort()
    for timestamp, clip in clips.written.items():
        entries[str(timestamp)]["context"] = clip
    manifest = {
        "size": list(size),
        "tile": list(tile),
        "columns": columns,
        "clip": {
            "num_frames": spec.num_frames,
            "alpha": spec.alpha,
            "tau": spec.tau,
            "keyframe_index": spec.keyframe_index,
            "slow_indices": spec.slow_indices(),
        },
        "variable_frame_rate": info.variable_frame_rate,
        "frames_decoded": stats.frames_decoded,
        "keyframes": entries,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest))
    total = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    return {"frames_decoded": stats.frames_decoded, "bytes": total}


def _feeding(frames: Iterator[Frame], clips: _ContextClips) -> Generator[Frame, None, None]:
    for frame in frames:
        clips.add(frame)
        yield frame


def _write_keyframe(
    directory: Path,
    timestamp: int,
    time: Fraction,
    pictures: list[tuple[int, Image.Image]],
    spec: ClipSpec,
    tile: tuple[int, int],
    columns: int,
) -> dict[str, Any]:
    from PIL import Image

    image_path = f"keyframes/{timestamp}.jpg"
    sprite_path = f"model-frames/{timestamp}.jpg"
    pictures[spec.keyframe_index][1].save(directory / image_path, quality=JPEG_QUALITY)
    rows = math.ceil(len(pictures) / columns)
    sprite = Image.new("RGB", (tile[0] * columns, tile[1] * rows))
    for position, (_, picture) in enumerate(pictures):
        row, column = divmod(position, columns)
        sprite.paste(
            picture.resize(tile, Image.Resampling.BILINEAR), (column * tile[0], row * tile[1])
        )
    sprite.save(directory / sprite_path, quality=SPRITE_QUALITY)
    return {
        "time": float(time),
        "image": image_path,
        "frame": pictures[spec.keyframe_index][0],
        "model_frames": sprite_path,
        "model_frame_indices": [index for index, _ in pictures],
    }


class _Clip:
    """One context clip being encoded: opened at its first frame, times relative to that frame."""

    def __init__(self, path: Path, window: tuple[Fraction, Fraction]) -> None:
        self.path = path
        self.window = window
        self.container: av.container.OutputContainer | None = None
        self.stream: Any = None
        self.first: Frame | None = None
        self.count = 0
        self.last_pts = -1

    def write(self, frame: Frame, picture: av.VideoFrame, rate: Fraction) -> None:
        import av

        if self.container is None:
            self.first = frame
            self.container = av.open(str(self.path), "w", options={"movflags": "+faststart"})
            self.stream = self.container.add_stream("libx264", rate=rate)
            self.stream.width, self.stream.height = picture.width, picture.height
            self.stream.pix_fmt = "yuv420p"
            self.stream.codec_context.time_base = CLIP_TIME_BASE
            self.stream.options = dict(CLIP_OPTIONS)
        assert self.first is not None
        # Presentation times carry over, so a variable frame rate plays as it was shot.
        pts = max(round((frame.time - self.first.time) / CLIP_TIME_BASE), self.last_pts + 1)
        picture.pts, self.last_pts = pts, pts
        self.container.mux(self.stream.encode(picture))
        self.count += 1

    def close(self) -> dict[str, Any]:
        assert self.container is not None and self.first is not None
        self.container.mux(self.stream.encode())
        self.container.close()
        self.container = None
        return {
            "path": f"context/{self.path.name}",
            "first_frame": self.first.index,
            "frames": self.count,
            "start": float(self.first.time),
        }


class _ContextClips:
    """Encodes every keyframe's context clip while the frames stream past, scaling each frame once.

    A clip holds every frame shown during its window: frame k is shown from its time until the next
    frame's, so whether it belongs to a window is known when frame k + 1 arrives. The first frame
    counts as shown from minus infinity, as the clip rule has it.
    """

    def __init__(
        self,
        directory: Path,
        windows: dict[int, tuple[Fraction, Fraction]],
        size: tuple[int, int],
        rate: Fraction,
    ) -> None:
        self.directory = directory
        self.waiting = sorted(windows.items(), key=lambda item: item[1][0])
        self.size = size
        self.rate = rate
        self.open: dict[int, _Clip] = {}
        self.pending: Frame | None = None
        self.written: dict[int, dict[str, Any]] = {}

    def add(self, frame: Frame) -> None:
        if self.pending is not None:
            self._place(self.pending, frame.time)
        self.pending = frame

    def finish(self) -> None:
        if self.pending is not None:
            self._place(self.pending, None)
            self.pending = None

    def abort(self) -> None:
        """Close any clip still open (after an error or a cancel)."""
        for clip in self.open.values():
            if clip.container is not None:
                clip.container.close()
        self.open.clear()

    def _place(self, frame: Frame, next_time: Fraction | None) -> None:
        while self.waiting and (next_time is None or self.waiting[0][1][0] < next_time):
            timestamp, window = self.waiting.pop(0)
            self.open[timestamp] = _Clip(self.directory / "context" / f"{timestamp}.mp4", window)
        if not self.open:
            return
        picture = frame.image.reformat(width=self.size[0], height=self.size[1], format="yuv420p")
        picture.time_base = CLIP_TIME_BASE
        for timestamp, clip in list(self.open.items()):
            clip.write(frame, picture, self.rate)
            if next_time is None or next_time > clip.window[1]:
                self.written[timestamp] = clip.close()
                del self.open[timestamp]


def keyframe_media(*, keyframe: Keyframe) -> dict[str, Any] | None:
    """URLs and frame facts of a keyframe's derived media; None until its video is ingested."""
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
