"""Media the review UI shows for keyframes: keyframe image, model-frames sprite, context clip.

One front-to-back decode writes, for every keyframe asked for: the keyframe image, the frames the
model sees by the clip rule (one sprite image, tiles in clip order) and a context clip of +-1.5 s
(H.264 mp4), all at most 360p. The manifest written last says which source frames each file shows.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.video import (
    ClipSpec,
    DecodeStats,
    Frame,
    VideoInfo,
    gather_frames,
    iter_frames,
    keyframe_file_time,
    resized_size,
)

if TYPE_CHECKING:
    import av
    from PIL import Image

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
PROGRESS_EVERY = 10  # keyframes between progress reports (and the caller's cancel checks)


def derived_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of derived media: short side at most 360, both even (H.264 4:2:0)."""
    width, height = resized_size(width, height, min(SHORT_SIDE, width, height))
    return max(2, width - width % 2), max(2, height - height % 2)


def tile_size(size: tuple[int, int], count: int) -> tuple[int, int]:
    """Size of one tile of the model-frames sprite: the sprite holds about one frame's pixels."""
    width, height = size
    short = max(MIN_TILE_SIDE, round(min(width, height) / math.sqrt(count)))
    return resized_size(width, height, min(short, width, height))


def write_keyframe_media(
    video_path: str | Path,
    directory: Path,
    info: VideoInfo,
    timestamps: list[int],
    time_offset: float,
    spec: ClipSpec,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Decode once, writing each keyframe's image, model-frames sprite and context clip under
    `directory` (replaced), then the manifest; `progress(done, total)` every few keyframes (it may
    raise to stop). Returns frames decoded and bytes written."""
    # The manifest goes last: a directory without one is an ingest that did not finish.
    shutil.rmtree(directory, ignore_errors=True)
    for folder in ("keyframes", "model-frames", "context"):
        (directory / folder).mkdir(parents=True)
    size = derived_size(info.width, info.height)
    tile = tile_size(size, spec.fast_length)
    columns = math.ceil(math.sqrt(spec.fast_length))
    times = {ts: keyframe_file_time(ts, time_offset) for ts in timestamps}
    clips = _ContextClips(
        directory,
        {ts: (time - CONTEXT_SECONDS, time + CONTEXT_SECONDS) for ts, time in times.items()},
        size,
        Fraction(info.fps).limit_denominator(1001),
    )
    stats = DecodeStats()
    frames = iter_frames(video_path, stats=stats)
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
            if progress is not None and (done % PROGRESS_EVERY == 0 or done == len(times)):
                progress(done, len(times))
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


def keyframe_images(paths: Iterable[Path]) -> Iterator[Image.Image]:
    """The images at `paths`, as RGB, one at a time."""
    from PIL import Image

    for path in paths:
        with Image.open(path) as image:
            yield image.convert("RGB")


def decode_keyframe_images(
    video_path: str | Path, timestamps: Iterable[int], time_offset: float, size: tuple[int, int]
) -> Generator[tuple[int, Image.Image], None, None]:
    """(timestamp, image at `size`) of each keyframe shown in the video, in one decode."""

    def convert(frame: Frame) -> Image.Image:
        return frame.image.to_image(width=size[0], height=size[1], interpolation="BILINEAR")

    requests = {ts: [keyframe_file_time(ts, time_offset)] for ts in timestamps}
    with closing(iter_frames(video_path)) as frames:
        for timestamp, images in gather_frames(frames, requests, convert):
            yield timestamp, images[0]
