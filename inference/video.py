"""Video decoding with PyAV and the clip rule of DESIGN.md: probe, one front-to-back pass, clips.

Times are exact `Fraction`s of seconds. File time 0 is the stream's start; a keyframe's file time is
its source timestamp minus the video's time offset. The frame shown at file time t is the last frame
whose presentation time is <= t; times before the first or after the last frame take that edge
frame.

One decode serves any number of keyframes: `iter_frames` decodes front to back, `select_frames`
says which decoded frames are shown at a set of requested times, and `gather_frames` collects them
per request, keeping a converted frame only while some unfinished request still needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import av.error
import numpy as np

# The clip grid is AVA's frame rate, whatever the source's.
GRID_FPS = 30

Seconds = int | float | Fraction | Decimal
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` finds out about a video file."""

    path: str
    codec: str
    fps: Fraction  # 30000/1001 for 29.97; the average rate when the frame rate is variable
    variable_frame_rate: bool
    frame_count: int
    duration: float  # seconds, first frame shown to last frame ended
    width: int
    height: int


@dataclass(frozen=True)
class Frame:
    """A decoded frame: its index in presentation order and its presentation time in file time."""

    index: int
    time: Fraction  # seconds since the stream's start
    image: av.VideoFrame


@dataclass
class DecodeStats:
    """Counters filled in while decoding, so callers can check that a video was decoded once."""

    frames_decoded: int = 0


@dataclass(frozen=True)
class ClipSpec:
    """Frames of a SlowFast clip: T Slow frames, speed ratio alpha, Slow temporal stride tau."""

    num_frames: int
    alpha: int
    tau: int

    def __post_init__(self) -> None:
        for name in ("num_frames", "alpha", "tau"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"clip {name} must be a positive integer, got {value!r}")

    @property
    def fast_length(self) -> int:
        """Number of Fast frames, T * alpha; for Slow-only (alpha 1) these are the Slow frames."""
        return self.num_frames * self.alpha

    @property
    def keyframe_index(self) -> int:
        """Position of the keyframe among the Fast frames (PySlowFast's integer half length)."""
        return self.fast_length // 2

    def fast_times(self, keyframe_time: Fraction) -> list[Fraction]:
        """File times of the Fast frames around a keyframe at `keyframe_time` (file time)."""
        step = Fraction(self.tau, self.alpha * GRID_FPS)
        return [keyframe_time + (i - self.keyframe_index) * step for i in range(self.fast_length)]

    def slow_indices(self) -> list[int]:
        """Fast frames the Slow pathway takes: `linspace(0, T*alpha - 1, T)` truncated, as
        PySlowFast's `torch.linspace(...).long()`."""
        last, count = self.fast_length - 1, self.num_frames
        if count == 1:
            return [0]
        return [i * last // (count - 1) for i in range(count)]


def as_fraction(seconds: Seconds) -> Fraction:
    """Seconds as an exact Fraction; a float is read as the decimal it prints as (0.1 -> 1/10)."""
    if isinstance(seconds, float):
        return Fraction(repr(seconds))
    return Fraction(seconds)


def keyframe_file_time(timestamp: Seconds, time_offset: Seconds = 0) -> Fraction:
    """File time of a keyframe: its source timestamp minus the video's time offset."""
    return as_fraction(timestamp) - as_fraction(time_offset)


def default_keyframes(duration: float, time_offset: Seconds = 0) -> list[int]:
    """Whole source seconds at least 1 s from either end; AVA's 902-1798 for cut files (offset
    900)."""
    offset = as_fraction(time_offset)
    first = -((-(offset + 1)) // 1)  # ceil
    last = (offset + as_fraction(duration) - 1) // 1
    if offset == 900:
        first, last = max(first, 902), min(last, 1798)
    return list(range(int(first), int(last) + 1))


def _open(path: str | Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise ValueError(f"{path}: not a video file PyAV can open ({error})") from error
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path}: no video stream")
    return container


def _time_base(stream: av.video.stream.VideoStream, path: str | Path) -> Fraction:
    if stream.time_base is None:
        raise ValueError(f"{path}: the video stream has no time base")
    return Fraction(stream.time_base)


def check_container(path: str | Path) -> None:
    """`ValueError` unless the file is a container with a video stream PyAV can decode (a cheap
    check at upload: nothing is decoded)."""
    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            codec = streams[0].codec_context if streams else None
            has_stream, has_codec = bool(streams), codec is not None and bool(codec.name)
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise ValueError(f"not a readable video container ({error})") from error
    if not has_stream:
        raise ValueError("the container has no video stream")
    if not has_codec:
        raise ValueError("the video stream has no decodable codec")


def probe(path: str | Path) -> VideoInfo:
    """Codec, frame rate (and whether it varies), frame count, duration and size of a video."""
    with _open(path) as container:
        stream = container.streams.video[0]
        tick = _time_base(stream, path)
        try:
            # Demuxing reads packets without decoding them: cheap even for a feature film.
            pts = sorted(
                packet.pts
                for packet in container.demux(stream)
                if packet.pts is not None and packet.size
            )
        except av.error.FFmpegError as error:
            raise ValueError(f"{path}: unreadable video stream ({error})") from error
        if not pts:
            raise ValueError(f"{path}: the video stream has no frames")
        codec, width, height = stream.codec_context.name, stream.width, stream.height
        rate = stream.average_rate or stream.guessed_rate
    _first_frame(path)
    steps = np.diff(np.asarray(pts, dtype=np.int64))
    median = int(np.median(steps)) if len(steps) else 0
    # Timestamps are rounded to the time base (33 or 34 ms at 30 fps in Matroska): allow a tick.
    variable = bool(len(steps)) and bool(np.any(np.abs(steps - median) > 1 + median / 100))
    if not rate:
        rate = Fraction(1, 1) / (median * tick) if median else Fraction(GRID_FPS)
    last_duration = median * tick if median else 1 / Fraction(rate)
    duration = (pts[-1] - pts[0]) * tick + last_duration
    return VideoInfo(
        path=str(path),
        codec=codec,
        fps=Fraction(rate),
        variable_frame_rate=variable,
        frame_count=len(pts),
        duration=float(duration),
        width=width,
        height=height,
    )


def _first_frame(path: str | Path) -> None:
    """Decode until the first frame, so a stream that holds packets but no pictures fails here."""
    with _open(path) as container:
        try:
            for _ in container.decode(container.streams.video[0]):
                return
        except av.error.FFmpegError as error:
            raise ValueError(f"{path}: the video stream cannot be decoded ({error})") from error
    raise ValueError(f"{path}: the video stream decodes to zero frames")


def iter_frames(
    path: str | Path, *, stats: DecodeStats | None = None
) -> Generator[Frame, None, None]:
    """Decode a video once, front to back, yielding frames in presentation order."""
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tick = _time_base(stream, path)
        rate = stream.guessed_rate or stream.average_rate
        origin = stream.start_time
        index = 0
        last_time: Fraction | None = None
        try:
            for image in container.decode(stream):
                if stats is not None:
                    stats.frames_decoded += 1
                if image.pts is None:
                    raise ValueError(f"{path}: frame {index} has no presentation timestamp")
                if origin is None:
                    origin = image.pts
                time = Fraction(image.pts - origin) * tick
                if rate:
                    # Coarse time bases round timestamps (Matroska: 67 ms for frame 2 at 30 fps,
                    # which is shown at 66.67 ms); a timestamp within that rounding of the frame
                    # rate's grid is put back on it, so the comparisons with clip times are exact.
                    on_grid = round(time * rate) / Fraction(rate)
                    if abs(on_grid - time) <= tick / 2:
                        time = on_grid
                # Decoders emit presentation order; a timestamp that goes back is a broken file's
                # and would make "the last frame shown at or before t" ambiguous, so it is dropped.
                if last_time is not None and time < last_time:
                    continue
                last_time = time
                yield Frame(index=index, time=time, image=image)
                index += 1
        except av.error.FFmpegError as error:
            raise ValueError(f"{path}: decoding failed after frame {index} ({error})") from error
    if index == 0:
        raise ValueError(f"{path}: the video stream decodes to zero frames")


def select_frames(
    frames: Iterable[Frame], times: Sequence[Fraction]
) -> Iterator[tuple[Frame, list[int]]]:
    """Yield each frame shown at one or more of `times`, with the positions of those times.

    Streams: a frame is yielded as soon as the next one is decoded, and `frames` is not read any
    further once every time has its frame (the caller closes it, or goes on reading it). Frames
    come in presentation order, each at most once.
    """
    order = sorted(range(len(times)), key=times.__getitem__)
    next_time = 0
    current: Frame | None = None
    current_positions: list[int] = []
    for frame in frames:
        due: list[int] = []
        while next_time < len(order) and times[order[next_time]] < frame.time:
            due.append(order[next_time])
            next_time += 1
        if current is None:
            current_positions = due  # times before the first frame take the first frame
        else:
            current_positions.extend(due)
            if current_positions:
                yield current, current_positions
            current_positions = []
        current = frame
        if next_time == len(order) and not current_positions:
            return
    if current is None:
        raise ValueError("no frames to select from")
    current_positions.extend(order[next_time:])  # times after the last frame take it
    if current_positions:
        yield current, current_positions


def gather_frames(
    frames: Iterable[Frame],
    requests: Mapping[K, Sequence[Fraction]],
    convert: Callable[[Frame], V],
) -> Iterator[tuple[K, list[V]]]:
    """For each request (a key and its times), yield the converted frames shown at those times.

    A request is yielded as soon as its last frame is decoded (so out of order when requests
    differ in span); `convert` runs once per selected frame, and a converted frame is referenced
    only by requests still waiting, so memory is bounded by the requests in flight.
    """
    keys = list(requests)
    flat_times: list[Fraction] = []
    owners: list[tuple[int, int]] = []  # (request number, slot) of each flat time
    for number, key in enumerate(keys):
        times = requests[key]
        flat_times.extend(times)
        owners.extend((number, slot) for slot in range(len(times)))
    missing = [len(requests[key]) for key in keys]
    filling: list[list[V | None]] = [[None] * count for count in missing]
    for number, key in enumerate(keys):
        if missing[number] == 0:
            yield key, []
    for frame, positions in select_frames(frames, flat_times):
        value = convert(frame)
        finished: list[int] = []
        for position in positions:
            number, slot = owners[position]
            filling[number][slot] = value
            missing[number] -= 1
            if missing[number] == 0:
                finished.append(number)
        for number in sorted(finished):
            done, filling[number] = filling[number], []
            yield keys[number], done  # type: ignore[misc]  # every slot is filled by now


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) after scaling the short side to `short_side`, keeping the aspect ratio."""
    if short_side < 1:
        raise ValueError(f"short side must be positive, got {short_side}")
    scale = short_side / min(width, height)
    if width <= height:
        return short_side, max(1, round(height * scale))
    return max(1, round(width * scale)), short_side


def to_rgb(frame: Frame, size: tuple[int, int]) -> np.ndarray:
    """The frame as an RGB uint8 array (H, W, 3) resized (bilinear) to `size` = (width, height)."""
    width, height = size
    return frame.image.to_ndarray(
        width=width, height=height, format="rgb24", interpolation="BILINEAR"
    )


def scale_boxes(
    boxes: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]
) -> np.ndarray:
    """Pixel boxes (N, 4) x1 y1 x2 y2 of a frame of `from_size` moved onto the resized frame."""
    sx = to_size[0] / from_size[0]
    sy = to_size[1] / from_size[1]
    return np.asarray(boxes, dtype=np.float32) * np.array([sx, sy, sx, sy], dtype=np.float32)


def boxes_to_pixels(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Normalised boxes (N, 4) x1 y1 x2 y2 in [0, 1] as pixels of a frame of `size`."""
    width, height = size
    return np.asarray(boxes, dtype=np.float32) * np.array(
        [width, height, width, height], dtype=np.float32
    )
