"""Tests of the synthetic dataset generator: real files, decoded by PyAV, read by inference.ava."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import defaultdict
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from inference import ava
from inference.synth import (
    ACTIONS,
    DetectorConfig,
    Renderer,
    SynthConfig,
    cli,
    generate_dataset,
)
from inference.synth.actions import Motion, body_pose
from inference.synth.dataset import parse_fps

LABEL_TYPE = {action.label_id: action.label_type for action in ACTIONS}
SMALL = {"size": "320x180", "seconds": 4}


def decode(path: Path) -> tuple[list[Fraction], list[np.ndarray]]:
    """Presentation times (exact) and yuv420p buffers of every frame of a video."""
    times, frames = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            times.append(frame.pts * stream.time_base)
            frames.append(frame.to_ndarray(format="yuv420p"))
    return times, frames


def shown_at(times: list[Fraction], t: int) -> int:
    """Index of the frame shown at time t: the last one whose presentation time is <= t."""
    return max(i for i, time in enumerate(times) if time <= t)


def gt_boxes(path: Path) -> dict[tuple[str, int], dict[int, tuple[np.ndarray, list[int]]]]:
    """(video, timestamp) -> person id -> (box, action ids), from a ground-truth CSV."""
    rows = ava.read_ava_csv(path, "gt")
    keyframes: dict[tuple[str, int], dict[int, tuple[np.ndarray, list[int]]]] = defaultdict(dict)
    for video, timestamp, box, action, person in zip(
        rows.video_ids, rows.timestamp, rows.box, rows.action, rows.person_id, strict=True
    ):
        people = keyframes[(str(video), int(timestamp))]
        if int(person) in people:
            assert np.array_equal(people[int(person)][0], box), "one person, one box per keyframe"
            people[int(person)][1].append(int(action))
        else:
            people[int(person)] = (box, [int(action)])
    return keyframes


def iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    height = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def pixel_box(mask: np.ndarray, trim: float = 0.0) -> np.ndarray:
    """Bounding box (x1, y1, x2, y2) of the true pixels, pixel edges included; `trim` percent of
    the pixels may fall outside on each side (stray pixels of compression ringing)."""
    ys, xs = np.nonzero(mask)
    low, high = np.percentile(xs, [trim, 100 - trim]), np.percentile(ys, [trim, 100 - trim])
    return np.array([low[0], high[0], low[1] + 1, high[1] + 1], dtype=float)


def inside_share(mask: np.ndarray, box: np.ndarray, margin: float) -> float:
    """Share of the true pixels whose centres lie in `box` (pixels) grown by `margin`."""
    ys, xs = np.nonzero(mask)
    x, y = xs + 0.5, ys + 0.5
    inside = (
        (x >= box[0] - margin)
        & (x <= box[2] + margin)
        & (y >= box[1] - margin)
        & (y <= box[3] + margin)
    )
    return float(inside.mean())


def test_it_is_deterministic(tmp_path: Path) -> None:
    first = generate_dataset(tmp_path / "a", videos=2, seed=7, people=(2, 3), **SMALL)
    # Rendered by two worker processes this time: the files must not change.
    second = generate_dataset(tmp_path / "b", videos=2, seed=7, people=(2, 3), jobs=2, **SMALL)
    generate_dataset(tmp_path / "c", videos=2, seed=8, people=(2, 3), render=False, **SMALL)

    for name in (
        "train.csv",
        "train_predicted_boxes.csv",
        "train_excluded_timestamps.csv",
        "action_list.pbtxt",
        "manifest.json",
    ):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "train.csv").read_bytes() != (
        tmp_path / "c" / "train.csv"
    ).read_bytes()
    for video in first.videos:
        times_a, frames_a = decode(first.video_path(video.video_id))
        times_b, frames_b = decode(second.video_path(video.video_id))
        assert times_a == times_b
        assert len(frames_a) == video.frames
        assert all(np.array_equal(a, b) for a, b in zip(frames_a, frames_b, strict=True))
        path = first.video_path(video.video_id)
        assert path.read_bytes() == second.video_path(video.video_id).read_bytes()
    # Two videos of one dataset differ.
    assert not np.array_equal(
        decode(first.video_path(first.videos[0].video_id))[1][30],
        decode(first.video_path(first.videos[1].video_id))[1][30],
    )


def test_csvs_pass_the_ava_reader_and_the_review_rules(tmp_path: Path) -> None:
    manifest = generate_dataset(tmp_path, videos=12, seconds=20, seed=3, val_videos=3, render=False)
    labels = ava.read_labelmap(manifest.label_map)
    assert {a.id: a.type for a in labels.actions} == LABEL_TYPE
    assert set(manifest.ground_truth) == {"train", "val"}
    seen_actions: set[int] = set()
    for split, path in manifest.ground_truth.items():
        videos = {v.video_id: v for v in manifest.videos if v.split == split}
        rows = ava.read_ava_csv(path, "gt", action_ids=labels.ids, videos=set(videos))
        boxes = ava.read_ava_csv(manifest.person_boxes[split], "person-boxes", videos=set(videos))
        assert len(rows) and len(boxes)
        assert (boxes.action == ava.NO_ACTION).all()
        assert ((boxes.value > 0) & (boxes.value <= 1)).all()
        excluded = set(ava.read_excluded(manifest.excluded[split]))
        keyframes = gt_boxes(path)
        assert not set(keyframes) & excluded, "excluded keyframes carry no ground truth"
        for video_id, video in videos.items():
            expected = set(range(1, math.floor(video.duration - 1.0) + 1))
            assert {k.timestamp for k in video.keyframes} == expected
            annotated = {t for (v, t) in keyframes if v == video_id}
            assert annotated | {t for (v, t) in excluded if v == video_id} == expected
            people = {p["person_id"] for p in video.schedule}
            for t in annotated:
                # Everyone stays in view, with the same ids, at every keyframe.
                assert set(keyframes[(video_id, t)]) == people
        for (_, _), people in keyframes.items():
            for _, actions in people.values():
                types = [LABEL_TYPE[a] for a in actions]
                assert types.count("PERSON_MOVEMENT") == 1, actions
                assert types.count("OBJECT_MANIPULATION") <= 3
                assert types.count("PERSON_INTERACTION") <= 3
                assert len(set(actions)) == len(actions)
                seen_actions.update(actions)
    assert seen_actions == set(LABEL_TYPE), "every class of the taxonomy occurs"


@pytest.mark.parametrize("fps", ["25", "29.97", "30"])
def test_boxes_cover_the_person_at_each_frame_rate(tmp_path: Path, fps: str) -> None:
    # One person on a flat background: whatever differs from the background is the person.
    manifest = generate_dataset(
        tmp_path, videos=1, seed=11, people=1, plain=True, fps=fps, crf=18, **SMALL
    )
    video = manifest.videos[0]
    rate = parse_fps(fps)
    assert rate == {"25": 25, "29.97": Fraction(30000, 1001), "30": 30}[fps]
    times, frames = decode(manifest.video_path(video.video_id))
    assert len(frames) == video.frames == round(4 * rate)
    assert times == [i / rate for i in range(len(frames))]
    scene = manifest.config.scene(0)
    background = Renderer(replace(scene, people=())).frame(0).astype(np.int16)
    height, width = scene.height, scene.width
    keyframes = gt_boxes(manifest.ground_truth["train"])
    checked = 0
    for keyframe in video.keyframes:
        index = shown_at(times, keyframe.timestamp)
        assert keyframe.frame == index
        box, actions = keyframes[(video.video_id, keyframe.timestamp)][0]
        if 11 in actions:
            continue  # a sitter's stool is not the person
        difference = np.abs(frames[index].astype(np.int16) - background)
        luma = difference[:height]
        chroma = np.maximum(
            difference[height : height + height // 4].reshape(height // 2, width // 2),
            difference[height + height // 4 :].reshape(height // 2, width // 2),
        )
        chroma = chroma.repeat(2, axis=0).repeat(2, axis=1)
        foreground = (luma > 10) | (chroma > 10)
        pixels = box * [width, height, width, height]
        assert inside_share(foreground, pixels, margin=2.0) > 0.99
        assert iou(pixel_box(foreground, trim=0.5), pixels) > 0.85
        checked += 1
    assert checked >= 1


def test_rendered_frames_are_the_decoded_frames_and_boxes_hold_each_person(tmp_path: Path) -> None:
    manifest = generate_dataset(
        tmp_path, videos=1, seed=4, people=4, seconds=4, size="320x180", crf=18
    )
    video = manifest.videos[0]
    scene = manifest.config.scene(0)
    assert scene.occluder is not None and scene.pan_amplitude > 0, "seed 4 has both"
    renderer = Renderer(scene)
    times, frames = decode(manifest.video_path(video.video_id))
    keyframes = gt_boxes(manifest.ground_truth["train"])
    height, width = scene.height, scene.width
    mask = np.zeros((height, width), np.uint8)
    for keyframe in video.keyframes:
        index = shown_at(times, keyframe.timestamp)
        decoded = frames[index].astype(np.int16)
        before, rendered, after = (
            renderer.frame(i).astype(np.int16) for i in (index - 1, index, index + 1)
        )
        assert np.abs(decoded - rendered).mean() < 3.0
        # Where the neighbouring frames differ (people move), the decoded frame is this one.
        moved = (np.abs(before - rendered) > 20) | (np.abs(after - rendered) > 20)
        assert moved.sum() > 50
        error = [np.abs(decoded - other)[moved].mean() for other in (before, rendered, after)]
        assert error[1] < 0.6 * min(error[0], error[2]), error
        renderer.frame(index, mask)
        if keyframe.excluded:
            continue
        people = keyframes[(video.video_id, keyframe.timestamp)]
        occluder = scene.occluder_rect(scene.frame_time(index))
        for person, (box, _) in people.items():
            pixels = box * [width, height, width, height]
            visible = mask == person + 1
            if not visible.any():
                continue
            assert inside_share(visible, pixels, margin=1.5) > 0.99
            others = [b for p, (b, _) in people.items() if p != person]
            alone = all(iou(pixels, b * [width, height, width, height]) == 0 for b in others)
            clear = occluder is None or occluder[2] < pixels[0] or occluder[0] > pixels[2]
            if alone and clear:
                assert iou(pixel_box(visible), pixels) > 0.9


def test_frames_drawn_together_equal_frames_drawn_alone() -> None:
    scene = SynthConfig(seed=2, seconds=3, people=(4, 4), width=320, height=180).scene(0)
    renderer = Renderer(scene)
    masks = [np.zeros((180, 320), np.uint8) for _ in range(6)]
    together = renderer.frames(20, 6, masks)
    for k, buffer in enumerate(together):
        mask = np.zeros((180, 320), np.uint8)
        assert np.array_equal(buffer, renderer.frame(20 + k, mask))
        assert np.array_equal(masks[k], mask)
    assert len(np.unique(masks[0])) == 5  # four people in view
    assert not np.array_equal(together[0], together[5])


@pytest.mark.parametrize(("recall", "precision", "jitter"), [(0.7, 0.8, 0.04), (0.95, 0.6, 0.0)])
def test_person_boxes_have_the_recall_and_precision_asked_for(
    tmp_path: Path, recall: float, precision: float, jitter: float
) -> None:
    manifest = generate_dataset(
        tmp_path,
        videos=40,
        seconds=30,
        seed=5,
        render=False,
        detector=DetectorConfig(recall=recall, precision=precision, jitter=jitter),
    )
    truth = gt_boxes(manifest.ground_truth["train"])
    excluded = set(ava.read_excluded(manifest.excluded["train"]))
    rows = ava.read_ava_csv(manifest.person_boxes["train"], "person-boxes")
    detections: dict[tuple[str, int], list[tuple[float, np.ndarray]]] = defaultdict(list)
    for video, timestamp, box, score in zip(
        rows.video_ids, rows.timestamp, rows.box, rows.value, strict=True
    ):
        detections[(str(video), int(timestamp))].append((float(score), box))
    # Frame-level matching as AVA evaluation does it: by score, IoU >= 0.5, each truth once.
    hits = false_positives = total = 0
    matched_iou = []
    for key in set(truth) | set(detections):
        if key in excluded:
            continue
        boxes = [box for box, _ in truth.get(key, {}).values()]
        total += len(boxes)
        used = [False] * len(boxes)
        for _, box in sorted(detections.get(key, []), key=lambda d: -d[0]):
            overlaps = [iou(box, gt) if not used[i] else 0.0 for i, gt in enumerate(boxes)]
            best = int(np.argmax(overlaps)) if overlaps else -1
            if best >= 0 and overlaps[best] >= 0.5:
                used[best] = True
                hits += 1
                matched_iou.append(overlaps[best])
            else:
                false_positives += 1
    assert total > 2500
    # The manifest reports what was achieved, as counted here.
    stats = manifest.detector["train"]
    assert (stats["people"], stats["true_positives"]) == (total, hits)
    assert stats["false_positives"] == false_positives
    assert abs(hits / total - recall) < 0.03
    assert abs(hits / (hits + false_positives) - precision) < 0.03
    if jitter == 0.0:
        assert min(matched_iou) > 0.99
    else:
        assert np.mean(matched_iou) < 0.95


def test_walk_and_run_differ_only_in_speed() -> None:
    walk = Motion(pose="walk", cadence=0.9, phase=0.3, amplitude=0.44)
    run = replace(walk, pose="run", cadence=2.3)
    for t in np.linspace(0.0, 2.0, 17):
        same = body_pose(run, float(t) * walk.cadence / run.cadence)
        assert np.allclose(body_pose(walk, float(t)).joints, same.joints)
    # Half a cycle apart, the walk's legs have swapped: the pose does change with time.
    half = 0.5 / walk.cadence
    assert not np.allclose(body_pose(walk, 0.0).joints, body_pose(walk, half).joints)


@pytest.mark.parametrize(("moving", "still"), [("wave", "raise"), ("clap", "fold")])
def test_a_still_gesture_is_one_frame_of_the_moving_one(moving: str, still: str) -> None:
    gesture = Motion(pose="stand", overlay=moving, cadence=2.0, phase=0.0, amplitude=0.14)
    hands = []
    for t in np.linspace(0.0, 0.5, 11):
        angle = 2.0 * math.pi * gesture.cadence * float(t)
        held = replace(gesture, overlay=still, still_phase=angle)
        # The stand pose sways with time; compare both at the same time.
        assert np.allclose(body_pose(gesture, float(t)).joints, body_pose(held, float(t)).joints)
        hands.append(body_pose(held, 0.0).joints[[5, 8]])
    assert np.ptp(np.array(hands), axis=0).max() > 0.05  # the moving hand covers ground


def test_fall_and_get_up_pass_through_the_same_tilts_in_opposite_order() -> None:
    fall = [body_pose(Motion(pose="fall", side=1), t).tilt for t in np.linspace(0, 1, 21)]
    rise = [body_pose(Motion(pose="getup", side=1), t).tilt for t in np.linspace(0, 1, 21)]
    assert fall[0] == pytest.approx(0.0) and fall[-1] == pytest.approx(math.pi / 2)
    assert rise[0] == pytest.approx(math.pi / 2) and rise[-1] == pytest.approx(0.0)
    assert np.all(np.diff(fall) >= 0) and np.all(np.diff(rise) <= 0)


def test_the_cli_writes_a_dataset_and_prints_json_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(
        [str(tmp_path), "--videos", "2", "--seconds", "3", "--seed", "1", "--size", "192x108",
         "--fps", "25", "--people", "1-2", "--recall", "0.8", "--json"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert summary["videos"] == 2
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["fps"] == "25" and manifest["config"]["detector"]["recall"] == 0.8
    for video in manifest["videos"]:
        times, frames = decode(tmp_path / video["file"])
        assert len(frames) == video["frames"] == 75
        assert frames[0].shape == (108 * 3 // 2, 192)
        assert video["people"] and all(p["segments"] for p in video["people"])
    assert cli([str(tmp_path), "--size", "191x108"]) == 2
    assert "191x108" in capsys.readouterr().err


def test_the_synth_command_loads_no_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from inference.__main__ import main; "
        f"assert main(['synth', {str(tmp_path)!r}, '--seconds', '2', '--size', '128x72']) == 0; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
    assert (tmp_path / "videos" / "synth0_000.mp4").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("size", "321x180", "321x180"),
        ("people", (0, 2), "people 0-2"),
        ("people", (1, 5), "people 1-5"),
        ("seconds", 1.5, "seconds 1.5"),
        ("fps", "0", "fps '0'"),
        ("val_videos", 3, "val_videos 3"),
    ],
)
def test_bad_settings_are_refused_with_the_value(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate_dataset(tmp_path, videos=2, render=False, **{field: value})
    assert not (tmp_path / "manifest.json").exists()
    with pytest.raises(ValueError, match="precision 0.0"):
        SynthConfig(detector=DetectorConfig(recall=1.0, precision=0.0))
