"""Ingest: probe, keyframes and the exact derived media, on videos whose frames show their index."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from django.core.files import File
from PIL import Image

from annotator.errors import ApplicationError
from annotator.models import Job, Keyframe, Video
from annotator.services.ingest import keyframe_media, video_ingest
from annotator.services.jobs import JobContext
from annotator.services.videos import derived_media_dir
from tests.conftest import POOL_VIDEO
from tests.generated import (
    decoded_indices,
    frame_times,
    read_index,
    shown_at,
    write_index_video,
)

POOL = POOL_VIDEO
SMALL_FAST_FRAMES, SMALL_STEP = 16, Fraction(16, 4 * 30)  # the `small` preset: 16 frames, 4 apart


def add_video(dataset, path: Path, video_id: str, time_offset: float = 0.0) -> Video:  # type: ignore[no-untyped-def]
    video = Video(dataset=dataset, video_id=video_id, time_offset=time_offset)
    with path.open("rb") as handle:
        video.file.save(path.name, File(handle), save=True)
    return video


def ingest_job(video: Video, **params: object) -> JobContext:
    job = Job.objects.create(
        job_type=Job.Type.INGEST, video=video, params={"video": video.pk, **params}
    )
    return JobContext(job, worker="test")


def sprite_indices(directory: Path, entry: dict, manifest: dict) -> list[int]:
    sprite = np.asarray(Image.open(directory / entry["model_frames"]).convert("RGB"))
    width, height = manifest["tile"]
    indices = []
    for position in range(len(entry["model_frame_indices"])):
        row, column = divmod(position, manifest["columns"])
        indices.append(
            read_index(
                sprite[row * height : (row + 1) * height, column * width : (column + 1) * width]
            )
        )
    return indices


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fps", "pts"),
    [
        (Fraction(30), None),
        (Fraction(30000, 1001), None),
        (Fraction(25), None),
        # Variable frame rate: 30 fps, then 15 fps from frame 60 on (times in 1/30000 s).
        (Fraction(30), [k * 1000 for k in range(60)] + [60_000 + k * 2000 for k in range(60)]),
    ],
    ids=["30", "29.97", "25", "vfr"],
)
def test_it_writes_the_frames_the_clip_rule_names_for_every_keyframe(
    ava_dataset, media_root, tmp_path, fps, pts
):  # type: ignore[no-untyped-def]
    count = 120 if pts is not None else int(4 * fps) + 3
    path = write_index_video(tmp_path / "index.mp4", fps, count, pts=pts)
    video = add_video(ava_dataset, path, "index")

    result = video_ingest(video_id=video.pk, context=ingest_job(video))

    video.refresh_from_db()
    times = frame_times(path)
    assert video.status == Video.Status.READY and video.frame_count == count
    assert abs(video.fps - float(fps)) < 1e-6 or pts is not None
    assert result["variable_frame_rate"] is (pts is not None)
    assert result["frames_decoded"] == count  # one front-to-back decode
    timestamps = list(Keyframe.objects.filter(video=video).values_list("timestamp", flat=True))
    assert timestamps == list(range(1, int(times[-1] + 1 / fps)))
    directory = derived_media_dir(video)
    manifest = json.loads((directory / "manifest.json").read_text())
    for timestamp in timestamps:
        entry = manifest["keyframes"][str(timestamp)]
        t = Fraction(timestamp)
        expected = [shown_at(times, t + (i - 8) * SMALL_STEP) for i in range(SMALL_FAST_FRAMES)]
        assert entry["model_frame_indices"] == expected
        assert sprite_indices(directory, entry, manifest) == expected
        keyframe_image = np.asarray(Image.open(directory / entry["image"]).convert("RGB"))
        assert read_index(keyframe_image) == shown_at(times, t) == entry["frame"]
        context = decoded_indices(directory / entry["context"]["path"])
        first, last = shown_at(times, t - Fraction(3, 2)), shown_at(times, t + Fraction(3, 2))
        assert context == list(range(first, last + 1))
        assert entry["context"]["first_frame"] == first and entry["context"]["frames"] == len(
            context
        )


@pytest.mark.django_db
def test_the_context_clip_keeps_presentation_times_and_plays_in_a_browser(
    ava_dataset, media_root, tmp_path
):  # type: ignore[no-untyped-def]
    pts = [k * 1000 for k in range(60)] + [60_000 + k * 2000 for k in range(60)]
    path = write_index_video(tmp_path / "vfr.mp4", 30, len(pts), pts=pts)
    video = add_video(ava_dataset, path, "vfr")

    video_ingest(video_id=video.pk)

    clip = derived_media_dir(video) / "context" / "2.mp4"  # 0.5 .. 3.5 s: both frame rates
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        times = [float(frame.pts * stream.time_base) for frame in container.decode(stream)]
    steps = np.round(np.diff(times), 4)
    assert set(steps[:15].tolist()) == {round(1 / 30, 4)} and set(steps[-15:].tolist()) == {
        round(1 / 15, 4)
    }
    assert clip.read_bytes()[4:8] == b"ftyp" and b"moov" in clip.read_bytes()[:200]  # faststart


@pytest.mark.django_db
def test_ava_cut_files_get_keyframes_902_onwards_and_ranges_are_configurable(
    ava_dataset, media_root, tmp_path
):  # type: ignore[no-untyped-def]
    path = write_index_video(tmp_path / "cut.mp4", 30, 150)  # 5 s of source time 900-905
    cut = add_video(ava_dataset, path, "cut", time_offset=900)
    video_ingest(video_id=cut.pk)
    assert list(cut.keyframes.values_list("timestamp", flat=True)) == [902, 903, 904]
    media = keyframe_media(keyframe=cut.keyframes.get(timestamp=902))
    assert media is not None and media["frame"] == 60  # file time 2 s

    custom = add_video(ava_dataset, path, "custom")
    video_ingest(video_id=custom.pk, context=ingest_job(custom, keyframe_start=0, keyframe_step=2))
    assert list(custom.keyframes.values_list("timestamp", flat=True)) == [0, 2, 4]

    bad = add_video(ava_dataset, path, "bad")
    with pytest.raises(ApplicationError, match="keyframe_end = 9: must be a whole second"):
        video_ingest(video_id=bad.pk, context=ingest_job(bad, keyframe_end=9))


@pytest.mark.django_db
def test_derived_media_are_at_most_360p_and_within_the_budget_on_the_real_video(
    ava_dataset, media_root, tmp_path
):  # type: ignore[no-untyped-def]
    large = write_index_video(tmp_path / "large.mp4", 30, 75, size=(640, 480))
    video = add_video(ava_dataset, large, "large")
    video_ingest(video_id=video.pk)
    directory = derived_media_dir(video)
    assert Image.open(directory / "keyframes" / "1.jpg").size == (480, 360)
    with av.open(str(directory / "context" / "1.mp4")) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (480, 360)

    pool = add_video(ava_dataset, POOL, "pool")
    result = video_ingest(video_id=pool.pk)

    assert result["media_keyframes"] == 9 and result["frames_decoded"] == 300
    # Noisy water at 340x256: the hardest content for the budget of 500 MB per hour.
    assert result["derived_mb_per_hour"] < 500
    media = keyframe_media(keyframe=pool.keyframes.get(timestamp=5))
    assert media is not None
    for url in (media["image"], media["model_frames"]["sprite"], media["context"]["clip"]):
        assert url.startswith(f"/media/derived/video-{pool.pk}/")
        assert (media_root / url.removeprefix("/media/")).is_file()
    assert media["context"]["keyframe_offset"] == pytest.approx(1.5)


@pytest.mark.django_db
def test_imported_keyframes_get_media_and_a_second_ingest_replaces_the_first(
    ava_dataset, media_root, tmp_path
):  # type: ignore[no-untyped-def]
    path = write_index_video(tmp_path / "index.mp4", 30, 90)
    video = add_video(ava_dataset, path, "index")
    Keyframe.objects.create(video=video, timestamp=0)  # e.g. from an AVA ground-truth import
    video_ingest(video_id=video.pk)
    stale = derived_media_dir(video) / "context" / "99.mp4"
    stale.write_bytes(b"left over")

    video_ingest(video_id=video.pk)

    assert list(video.keyframes.values_list("timestamp", flat=True)) == [0, 1, 2]
    assert keyframe_media(keyframe=video.keyframes.get(timestamp=0))["frame"] == 0  # type: ignore[index]
    assert not stale.exists()


@pytest.mark.django_db
def test_files_without_frames_or_with_broken_streams_fail_with_a_message_naming_them(
    ava_dataset, media_root, tmp_path
):  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty.avi"  # an H.264 stream without a single frame
    with av.open(str(empty), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height = 64, 48
        container.start_encoding()
    good_path = write_index_video(tmp_path / "good.mp4", 30, 90)
    data = good_path.read_bytes()
    mdat = data.index(b"mdat")  # the container stays intact; the frames in it do not
    end = mdat - 4 + int.from_bytes(data[mdat - 4 : mdat], "big")
    corrupt, broken = tmp_path / "corrupt.mp4", tmp_path / "broken.mp4"
    corrupt.write_bytes(data[: mdat + 4] + bytes(end - mdat - 4) + data[end:])
    half = (mdat + end) // 2
    broken.write_bytes(data[:half] + bytes(end - half) + data[end:])
    good = add_video(ava_dataset, good_path, "good")

    problems = [
        (empty, "the video stream has no frames"),
        (corrupt, "the video stream cannot be decoded"),
        (broken, "decoding failed after frame 4"),  # probes fine, breaks halfway
    ]
    for path, problem in problems:
        video = add_video(ava_dataset, path, path.stem)
        message = rf"video {path.stem} \({path.name}\): .*{path.name}: {problem}"
        with pytest.raises(ApplicationError, match=message):
            video_ingest(video_id=video.pk)
        video.refresh_from_db()
        assert video.status == Video.Status.FAILED and path.name in video.status_message

    video_ingest(video_id=good.pk)
    good.refresh_from_db()
    assert good.status == Video.Status.READY and good.keyframes.count() == 2
