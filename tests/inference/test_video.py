from __future__ import annotations

from fractions import Fraction
from functools import partial
from pathlib import Path

import av
import numpy as np
import pytest

from inference import video
from inference.video import ClipSpec, DecodeStats, Frame
from tests.conftest import POOL_VIDEO
from tests.generated import COLUMNS, ROWS, read_index, write_index_video

POOL = POOL_VIDEO
BLOCK = 32  # each bit of a frame's index is a 32x32 black or white block: survives H.264
write_index_video = partial(write_index_video, size=(COLUMNS * BLOCK, ROWS * BLOCK))


def pixel_index(frame: Frame) -> int:
    return read_index(frame.image.to_ndarray(format="rgb24"))


def decoded_index(frame: Frame) -> int:
    return frame.index


def shown_at(frame_times: list[Fraction], t: Fraction) -> int:
    """The rule, stated directly: the last frame shown at or before t, edge frames outside."""
    shown = [k for k, time in enumerate(frame_times) if time <= t]
    return shown[-1] if shown else 0


SPEC = ClipSpec(num_frames=8, alpha=4, tau=8)  # SlowFast 8x8: 32 Fast frames, 2 grid frames apart


@pytest.mark.parametrize(
    ("fps", "suffix"),
    [
        (Fraction(24), "mp4"),
        (Fraction(25), "mp4"),
        (Fraction(30000, 1001), "mp4"),
        (Fraction(60), "mp4"),
        (Fraction(30), "mkv"),  # Matroska rounds timestamps to milliseconds: 0, 33, 67, ...
        (Fraction(30000, 1001), "mkv"),
    ],
)
def test_it_picks_the_frames_the_clip_rule_names(
    tmp_path: Path, fps: Fraction, suffix: str
) -> None:
    count = int(3 * fps)  # 3 s: keyframes 0 and 3 run past both ends
    path = write_index_video(tmp_path / f"index.{suffix}", fps, count)
    frame_times = [k / fps for k in range(count)]
    requests = {ts: SPEC.fast_times(video.keyframe_file_time(ts)) for ts in (0, 1, 2, 3)}

    clips = dict(video.gather_frames(video.iter_frames(path), requests, pixel_index))

    for ts, times in requests.items():
        assert clips[ts] == [shown_at(frame_times, t) for t in times], ts
    assert clips[0][:17] == [0] * 17  # the keyframe at 0 and every time before it: frame 0
    assert clips[3][SPEC.keyframe_index :] == [count - 1] * 16  # at and after the end: the last
    assert clips[2][SPEC.keyframe_index] == shown_at(frame_times, Fraction(2))


def test_it_subtracts_the_time_offset(tmp_path: Path) -> None:
    path = write_index_video(tmp_path / "index.mp4", 25, 75)
    requests = {ts: SPEC.fast_times(video.keyframe_file_time(ts, 900)) for ts in (901, 902)}

    clips = dict(video.gather_frames(video.iter_frames(path), requests, pixel_index))

    frame_times = [Fraction(k, 25) for k in range(75)]
    assert clips[901] == [shown_at(frame_times, t) for t in SPEC.fast_times(Fraction(1))]
    assert clips[902] == [shown_at(frame_times, t) for t in SPEC.fast_times(Fraction(2))]
    assert clips[901][SPEC.keyframe_index] == 25
    assert video.keyframe_file_time(902.5, 900.25) == Fraction(9, 4)


def test_it_uses_presentation_times_of_a_variable_frame_rate_video(tmp_path: Path) -> None:
    pts = [0, 1000, 2500, 3000, 5000, 5100, 5200, 9000, 9100, 9200]  # 1/30000 s
    path = write_index_video(tmp_path / "vfr.mp4", 30, len(pts), pts=pts)
    frame_times = [Fraction(p, 30000) for p in pts]
    times = [Fraction(k, 30) for k in range(-2, 14)] + [Fraction(1, 6), Fraction(3, 10)]

    selected = {}
    for frame, positions in video.select_frames(video.iter_frames(path), times):
        for position in positions:
            selected[position] = pixel_index(frame)

    assert [selected[p] for p in range(len(times))] == [shown_at(frame_times, t) for t in times]
    info = video.probe(path)
    assert info.variable_frame_rate
    assert info.frame_count == len(pts)


def test_it_matches_frames_decoded_one_by_one_on_the_real_video() -> None:
    with av.open(str(POOL)) as container:
        decoded = [image.to_ndarray(format="rgb24") for image in container.decode(video=0)]
    frame_times = [Fraction(k, 30) for k in range(len(decoded))]
    spec = ClipSpec(num_frames=4, alpha=8, tau=16)  # SlowFast 4x16
    requests = {ts: spec.fast_times(Fraction(ts)) for ts in range(0, 11)}

    clips = video.gather_frames(
        video.iter_frames(POOL), requests, lambda frame: frame.image.to_ndarray(format="rgb24")
    )

    seen = 0
    for ts, images in clips:
        expected = [shown_at(frame_times, t) for t in requests[ts]]
        assert all(np.array_equal(a, decoded[k]) for a, k in zip(images, expected, strict=True))
        seen += 1
    assert seen == 11


def test_it_decodes_once_and_streams_clips_while_decoding() -> None:
    info = video.probe(POOL)
    stats = DecodeStats()
    requests = {ts: SPEC.fast_times(Fraction(ts)) for ts in range(1, 10)}
    decoded_when_yielded = []

    for _ts, frames in video.gather_frames(
        video.iter_frames(POOL, stats=stats), requests, decoded_index
    ):
        decoded_when_yielded.append(stats.frames_decoded)
        assert len(frames) == 32

    assert len(decoded_when_yielded) == 9
    assert decoded_when_yielded[0] < info.frame_count / 2  # the first clip leaves early
    assert decoded_when_yielded == sorted(decoded_when_yielded)
    assert stats.frames_decoded <= 1.05 * info.frame_count


def test_it_converts_each_selected_frame_once() -> None:
    converted: list[int] = []

    def convert(frame: Frame) -> int:
        converted.append(frame.index)
        return frame.index

    requests = {ts: SPEC.fast_times(Fraction(ts)) for ts in range(0, 11)}
    clips = dict(video.gather_frames(video.iter_frames(POOL), requests, convert))

    assert len(converted) == len(set(converted))
    assert set(converted) == {k for frames in clips.values() for k in frames}
    assert clips[5][16] == 150


def test_it_gives_an_empty_request_no_frames() -> None:
    clips = dict(
        video.gather_frames(
            video.iter_frames(POOL), {"none": [], "one": [Fraction(1)]}, decoded_index
        )
    )
    assert clips == {"none": [], "one": [30]}


@pytest.mark.parametrize(
    ("num_frames", "alpha"),
    [(8, 4), (4, 8), (32, 4), (8, 1), (4, 1), (2, 2), (1, 4), (5, 3), (7, 6)],
)
def test_it_takes_slow_frames_as_pyslowfast_linspace_does(num_frames: int, alpha: int) -> None:
    torch = pytest.importorskip("torch")
    spec = ClipSpec(num_frames=num_frames, alpha=alpha, tau=8)
    length = num_frames * alpha
    expected = torch.linspace(0, length - 1, length // alpha).long().tolist()
    assert spec.slow_indices() == expected


def test_it_places_fast_frames_on_the_30_fps_grid() -> None:
    spec = ClipSpec(num_frames=8, alpha=4, tau=8)
    times = spec.fast_times(Fraction(10))
    assert len(times) == 32
    assert times[16] == 10
    assert times[0] == Fraction(10) - Fraction(32, 30)
    assert times[1] - times[0] == Fraction(2, 30)
    slow_only = ClipSpec(num_frames=4, alpha=1, tau=16).fast_times(Fraction(0))
    assert slow_only == [Fraction(k * 16, 30) for k in (-2, -1, 0, 1)]
    with pytest.raises(ValueError, match="alpha"):
        ClipSpec(num_frames=8, alpha=0, tau=8)


@pytest.mark.parametrize(
    ("fps", "suffix", "expected_fps"),
    [
        (Fraction(30000, 1001), "mp4", Fraction(30000, 1001)),
        (Fraction(25), "mp4", Fraction(25)),
        (Fraction(30), "mkv", Fraction(30)),
    ],
)
def test_it_probes_constant_frame_rate_videos(
    tmp_path: Path, fps: Fraction, suffix: str, expected_fps: Fraction
) -> None:
    path = write_index_video(tmp_path / f"index.{suffix}", fps, 45)

    info = video.probe(path)

    assert info.fps == expected_fps
    assert not info.variable_frame_rate
    assert info.frame_count == 45
    assert info.duration == pytest.approx(float(45 / fps), abs=0.002)
    assert (info.codec, info.width, info.height) == ("h264", 128, 96)


def test_it_probes_the_real_video() -> None:
    info = video.probe(POOL)
    assert (info.codec, info.fps, info.frame_count, info.width, info.height) == (
        "h264",
        30,
        300,
        340,
        256,
    )
    assert info.duration == 10.0
    assert not info.variable_frame_rate


def test_it_rejects_a_text_file_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n" * 100)
    with pytest.raises(ValueError, match="notes.mp4"):
        video.probe(path)
    with pytest.raises(ValueError, match="notes.mp4"):
        list(video.iter_frames(path))


def test_it_rejects_a_video_stream_without_frames(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height = 64, 48
    with pytest.raises(ValueError, match=r"empty\.mp4.*(no frames|cannot|not a video)"):
        video.probe(path)


def test_it_rejects_a_file_without_a_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "sound.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(ValueError, match=r"sound\.wav: no video stream"):
        video.probe(path)


def test_it_resizes_frames_and_boxes_together() -> None:
    assert video.resized_size(340, 256, 256) == (340, 256)
    assert video.resized_size(1920, 1080, 256) == (455, 256)
    assert video.resized_size(1080, 1920, 256) == (256, 455)
    frame = next(video.iter_frames(POOL))
    image = video.to_rgb(frame, (455, 342))
    assert image.shape == (342, 455, 3) and image.dtype == np.uint8
    boxes = video.scale_boxes(np.array([[34.0, 25.6, 340.0, 256.0]]), (340, 256), (680, 512))
    np.testing.assert_allclose(boxes, [[68.0, 51.2, 680.0, 512.0]])
    pixels = video.boxes_to_pixels(np.array([[0.1, 0.1, 1.0, 0.5]]), (340, 256))
    np.testing.assert_allclose(pixels, [[34.0, 25.6, 340.0, 128.0]], rtol=1e-6)


def test_it_lists_default_keyframes() -> None:
    assert video.default_keyframes(10.0) == list(range(1, 10))
    assert video.default_keyframes(9.5) == list(range(1, 9))
    assert video.default_keyframes(901.0, 900) == list(range(902, 1799))
    assert video.default_keyframes(0.5) == []


def test_it_leaves_the_rest_of_the_video_to_the_caller() -> None:
    frames = video.iter_frames(POOL)

    clips = dict(video.gather_frames(frames, {1: [Fraction(1)]}, decoded_index))
    rest = [frame.index for frame in frames]

    assert clips == {1: [30]}
    assert rest == list(range(32, 300))  # frame 31 told that frame 30 is the one shown at 1 s


def test_it_keeps_a_converted_frame_only_while_a_waiting_request_needs_it() -> None:
    live = {"now": 0, "most": 0, "made": 0}

    class Converted:
        def __init__(self) -> None:
            live["now"] += 1
            live["made"] += 1
            live["most"] = max(live["most"], live["now"])

        def __del__(self) -> None:
            live["now"] -= 1

    requests = {ts: SPEC.fast_times(Fraction(ts)) for ts in range(1, 10)}
    for _ts, frames in video.gather_frames(
        video.iter_frames(POOL), requests, lambda frame: Converted()
    ):
        assert len(frames) == 32
        del frames

    # A clip spans 64 frames (32 taken, every other one) and keyframes are 30 frames apart, so at
    # most (64 + 30) / 2 taken frames wait at once; keeping everything would hold all of them.
    assert live["most"] <= 47 < live["made"]
    assert live["now"] == 0
