"""Keyframe media without Django, on the real clip: one decode writes each keyframe's image,
model-frames sprite and context clip, then the manifest; a progress callback that raises stops
it before the manifest."""

from __future__ import annotations

import json

import av
import pytest
from PIL import Image

from inference.media import MANIFEST, derived_size, tile_size, write_keyframe_media
from inference.video import ClipSpec, probe
from tests.conftest import POOL_VIDEO

SPEC = ClipSpec(num_frames=4, alpha=4, tau=4)  # 16 Fast frames


def test_it_writes_each_keyframes_media_and_the_manifest_last(tmp_path):
    info = probe(POOL_VIDEO)
    reports: list[tuple[int, int]] = []
    written = write_keyframe_media(
        POOL_VIDEO, tmp_path / "m", info, [2, 5], 0.0, SPEC, lambda *a: reports.append(a)
    )
    assert written["frames_decoded"] == info.frame_count  # one pass, every frame once
    manifest = json.loads((tmp_path / "m" / MANIFEST).read_text())
    size = derived_size(info.width, info.height)
    assert manifest["size"] == list(size) == [340, 256]  # already under 360p: kept
    assert manifest["tile"] == list(tile_size(size, 16)) and manifest["columns"] == 4
    assert reports == [(2, 2)]
    for timestamp in ("2", "5"):
        entry = manifest["keyframes"][timestamp]
        assert entry["frame"] == int(timestamp) * 30  # the frame shown at t on a 30 fps clip
        assert len(entry["model_frame_indices"]) == 16
        with Image.open(tmp_path / "m" / entry["image"]) as image:
            assert image.size == size
        with Image.open(tmp_path / "m" / entry["model_frames"]) as sprite:
            assert sprite.size == (manifest["tile"][0] * 4, manifest["tile"][1] * 4)
        context = entry["context"]
        with av.open(str(tmp_path / "m" / context["path"])) as clip:
            frames = sum(1 for _ in clip.decode(video=0))
        assert frames == context["frames"] == 91  # every frame shown in [t - 1.5 s, t + 1.5 s]
    files = [path for path in (tmp_path / "m").rglob("*") if path.is_file()]
    assert len(files) == 1 + 3 * 2
    assert written["bytes"] == sum(path.stat().st_size for path in files)


def test_a_progress_callback_that_raises_stops_before_the_manifest(tmp_path):
    info = probe(POOL_VIDEO)

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt  # what a cancel check raising does, in kind

    with pytest.raises(KeyboardInterrupt):
        write_keyframe_media(POOL_VIDEO, tmp_path / "m", info, [2], 0.0, SPEC, stop)
    assert not (tmp_path / "m" / MANIFEST).exists()
