"""Training bundles, read back as PySlowFast's and mmaction2's AVA loaders read them."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference.ava import ActionLabel, LabelMap, parse_labelmap
from inference.bundle import (
    BundleBox,
    BundleKeyframe,
    BundleSpec,
    BundleVideo,
    ScoredBox,
    video_parts,
    write_bundle,
)
from tests.generated import frame_times, read_index, shown_at, write_index_video

AVA_VALID_FRAMES = range(902, 1799)  # PySlowFast's
FPS = 30
ACTIONS = LabelMap(
    actions=(
        ActionLabel(1, "bend/bow", "PERSON_MOVEMENT"),
        ActionLabel(12, "stand", "PERSON_MOVEMENT"),
        ActionLabel(17, "carry/hold", "OBJECT_MANIPULATION"),
    )
)
EVALUATED = LabelMap(actions=ACTIONS.actions[1:])


# --- the loaders' parsing, restated from their sources ---------------------------------------


def pyslowfast_frame_lists(frame_list: Path, frame_dir: Path) -> tuple[list[list[str]], dict]:
    """`ava_helper.load_image_lists`: header skipped, 5 fields, rows grouped by video."""
    image_paths: list[list[str]] = []
    video_name_to_idx: dict[str, int] = {}
    with frame_list.open() as handle:
        handle.readline()
        for line in handle:
            row = line.split()
            assert len(row) == 5
            if row[0] not in video_name_to_idx:
                video_name_to_idx[row[0]] = len(image_paths)
                image_paths.append([])
            image_paths[video_name_to_idx[row[0]]].append(os.path.join(frame_dir, row[3]))
    return image_paths, video_name_to_idx


def pyslowfast_boxes(
    path: Path, mode: str, is_gt: bool, thresh: float = 0.9
) -> dict[str, dict[int, list]]:
    """`ava_helper.parse_bboxes_file` + `load_boxes_and_labels`: (video, second) -> boxes."""
    all_boxes: dict[str, dict[int, dict[str, list]]] = {}
    for line in path.read_text().splitlines():
        row = line.strip().split(",")
        if not is_gt and float(row[7]) < thresh:
            continue
        video_name, frame_sec = row[0], int(row[1])
        if mode == "val" and frame_sec % 4 != 0:
            continue
        box_key = ",".join(row[2:6])
        box = list(map(float, row[2:6]))
        label = -1 if row[6] == "" else int(row[6])
        seconds = all_boxes.setdefault(video_name, {}).setdefault(frame_sec, {})
        if box_key not in seconds:
            seconds[box_key] = [box, []]
        if label != -1:
            seconds[box_key][1].append(label)
    return {
        video: {sec: list(boxes.values()) for sec, boxes in secs.items()}
        for video, secs in all_boxes.items()
    }


def pyslowfast_keyframes(boxes: dict, video_name_to_idx: dict) -> list[tuple[int, int, int]]:
    """`ava_helper.get_keyframe_data`: (video index, second, frame index) of valid keyframes."""
    keyframes = []
    for video, secs in boxes.items():
        for sec, sec_boxes in secs.items():
            if sec in AVA_VALID_FRAMES and len(sec_boxes) > 0:
                keyframes.append((video_name_to_idx[video], sec, (sec - 900) * FPS))
    return sorted(keyframes)


def mmaction2_annotations(path: Path) -> dict[str, list[tuple]]:
    """`AVADataset.load_data_list`: img_key -> (box, label, entity id) per line."""
    records: dict[str, list[tuple]] = {}
    for line in path.read_text().splitlines():
        line_split = line.strip().split(",")
        label = int(line_split[6])
        video_id = line_split[0]
        timestamp = int(line_split[1])
        img_key = f"{video_id},{timestamp:04d}"
        entity_box = np.array(list(map(float, line_split[2:6])))
        entity_id = int(line_split[7])
        records.setdefault(img_key, []).append((entity_box, label, entity_id))
    return records


def mmaction2_frame(data_prefix: Path, img_key: str, timestamp_start: int = 900) -> Path:
    """The keyframe's frame file: `30 * (timestamp - timestamp_start) + 1` of `img_{:05}.jpg`."""
    video_id, timestamp = img_key.split(",")
    return data_prefix / video_id / f"img_{FPS * (int(timestamp) - timestamp_start) + 1:05}.jpg"


def loader_labelmap(path: Path) -> list[tuple[int, str]]:
    """`read_labelmap` of both tools: `  name:` lines, then `  id:` or `  label_id:` lines."""
    labelmap, name = [], ""
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("  name:"):
            name = line.split('"')[1]
        elif line.startswith("  id:") or line.startswith("  label_id:"):
            labelmap.append((int(line.strip().split(" ")[-1]), name))
    return labelmap


def shown_index(path: str | Path) -> int:
    return read_index(np.asarray(Image.open(path).convert("RGB")))


# --- the data ----------------------------------------------------------------------------------


def box(x1: float, person: int | None, *actions: int) -> BundleBox:
    return BundleBox(x1, 0.1, x1 + 0.3, 0.9, person, tuple(actions))


def scored(x1: float, score: float) -> ScoredBox:
    return ScoredBox(x1, 0.1, x1 + 0.3, 0.9, score)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("videos")
    return {
        "walk": write_index_video(directory / "walk.mp4", 30, 180),  # 6 s, offset 0
        "cut": write_index_video(directory / "cut.mp4", 30, 180),  # 6 s, offset 900
    }


def spec_of(videos: dict[str, Path], part_seconds: int = 3) -> BundleSpec:
    walk = BundleVideo(
        video_id="walk",
        path=str(videos["walk"]),
        time_offset=0.0,
        keyframe_span=(1, 5),
        split="train",
        keyframes=(
            BundleKeyframe(1, (box(0.1, 7, 12, 17), box(0.5, None, 1)), (scored(0.1, 0.97),)),
            BundleKeyframe(2, (box(0.1, 7, 12),), excluded=True),
            BundleKeyframe(3, (box(0.2, None, 12),), (scored(0.2, 0.5), scored(0.6, 0.99))),
            BundleKeyframe(4, ()),  # reviewed, nobody there
            BundleKeyframe(5, (box(0.3, 7, 1), box(0.6, 9, 12, 17))),
        ),
    )
    cut = BundleVideo(
        video_id="cut",
        path=str(videos["cut"]),
        time_offset=900.0,
        keyframe_span=(902, 904),
        split="val",
        keyframes=(
            BundleKeyframe(902, (box(0.1, 1, 12),), (scored(0.1, 0.95),)),
            BundleKeyframe(903, (box(0.1, 1, 12),), (scored(0.1, 0.92),)),
            BundleKeyframe(904, (box(0.1, 1, 1), box(0.5, None, 17)), (scored(0.5, 0.93),)),
        ),
    )
    return BundleSpec(
        videos=(walk, cut),
        actions=ACTIONS,
        evaluated=EVALUATED,
        short_side=72,
        snapshot_hash="ab" * 32,
        dataset="demo",
        part_seconds=part_seconds,
    )


def exported_boxes(spec: BundleSpec, split: str) -> dict[tuple[str, int], int]:
    """(video, source second) -> labelled boxes, of the not-excluded keyframes of a split."""
    return {
        (video.video_id, keyframe.timestamp): sum(1 for b in keyframe.boxes if b.action_ids)
        for video in spec.videos
        if video.split == split
        for keyframe in video.keyframes
        if not keyframe.excluded and any(b.action_ids for b in keyframe.boxes)
    }


# --- the tests ---------------------------------------------------------------------------------


def test_it_maps_file_time_to_seconds_902_on_and_splits_long_files() -> None:
    parts = video_parts("movie", 0.0, (1, 2000))
    assert [(p.name, p.shift, p.first_timestamp, p.last_timestamp) for p in parts] == [
        ("movie", 902, 1, 895),
        ("movie__p2", 6, 896, 1791),
        ("movie__p3", -890, 1792, 2000),
    ]
    assert parts[0].bundle_second(1) == 903 and parts[1].bundle_second(896) == 902
    assert all(902 <= p.bundle_second(p.last_timestamp) <= 1798 for p in parts)
    assert parts[0].frame_count == FPS * (1797 + 2 - 900)  # a clip's reach past the last one


def test_it_keeps_the_seconds_of_ava_cut_files_that_fit() -> None:
    (part,) = video_parts("cut", 900.0, (902, 1798))
    assert (part.name, part.shift) == ("cut", 0)
    assert part.frame_times(900.0)[0] == 0  # frame 1 is second 900 = file time 0
    assert part.frame_count == FPS * (1800 - 900)  # never past mmaction2's timestamp_end
    longer = video_parts("long", 900.0, (902, 1799), part_seconds=896)
    assert [p.name for p in longer] == ["long", "long__p2"]


def test_it_rejects_keyframes_before_the_file() -> None:
    with pytest.raises(ValueError, match="before the file starts"):
        video_parts("late", 10.0, (5, 20))


def test_pyslowfast_reads_the_bundle_with_its_defaults(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    spec = spec_of(videos)
    reported: list[float] = []
    summary = write_bundle(
        tmp_path, spec, workers=2, progress=lambda fraction, _: reported.append(fraction)
    )
    assert reported == sorted(reported) and reported[-1] == 1.0  # progress while frames are written
    notes = tmp_path / "annotations"

    train_paths, train_index = pyslowfast_frame_lists(
        tmp_path / "frame_lists" / "train.csv", tmp_path / "frames"
    )
    assert set(train_index) == {"walk", "walk__p2"}  # 6 s in parts of 3 s
    train_boxes = pyslowfast_boxes(notes / "ava_train_v2.2.csv", "train", is_gt=True)
    keyframes = pyslowfast_keyframes(train_boxes, train_index)
    assert len(keyframes) == len(exported_boxes(spec, "train")) == summary.keyframes["train"] == 3
    mapping = {
        (row[0], int(row[1])): (row[2], int(row[3]))
        for row in (
            line.split(",") for line in (tmp_path / "mapping.csv").read_text().splitlines()[1:]
        )
    }
    by_index = {index: name for name, index in train_index.items()}
    expected = exported_boxes(spec, "train")
    for video_idx, sec, frame in keyframes:
        name = by_index[video_idx]
        video_id, timestamp = mapping[name, sec]
        assert len(train_boxes[name][sec]) == expected[video_id, timestamp]
        # the frame PySlowFast centres the clip on shows the source frame at the keyframe's time
        assert shown_index(train_paths[video_idx][frame]) == FPS * timestamp
    # times before the file's first frame repeat it; part 2's frames are its own
    assert shown_index(train_paths[train_index["walk"]][0]) == 0
    assert shown_index(train_paths[train_index["walk__p2"]][0]) == FPS * (3 - 2)

    val_paths, val_index = pyslowfast_frame_lists(
        tmp_path / "frame_lists" / "val.csv", tmp_path / "frames"
    )
    predicted = pyslowfast_boxes(notes / "ava_val_predicted_boxes.csv", "val", is_gt=False)
    val_keyframes = pyslowfast_keyframes(predicted, val_index)
    assert val_keyframes == [(0, 904, 120)]  # val tests on seconds % 4 == 0
    assert shown_index(val_paths[0][120]) == FPS * (904 - 900)
    assert [b[0] for b in predicted["cut"][904]] == [[0.5, 0.1, 0.8, 0.9]]


def test_mmaction2_reads_annotations_proposals_and_frames(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    spec = spec_of(videos)
    write_bundle(tmp_path, spec, workers=0)
    notes = tmp_path / "annotations"
    for split in ("train", "val"):
        records = mmaction2_annotations(notes / f"ava_{split}_v2.2.csv")
        mapping = {
            f"{row[0]},{int(row[1]):04d}": (row[2], int(row[3]))
            for row in (
                line.split(",") for line in (tmp_path / "mapping.csv").read_text().splitlines()[1:]
            )
        }
        expected = exported_boxes(spec, split)
        assert {mapping[key] for key in records} == set(expected)
        for img_key, entities in records.items():
            video_id, timestamp = mapping[img_key]
            boxes = {tuple(entity_box.round(3)) for entity_box, _, _ in entities}
            assert len(boxes) == expected[video_id, timestamp]
            # every box has a person id, and one box is one entity
            entity_of = {tuple(b.round(3)): e for b, _, e in entities}
            assert len(set(entity_of.values())) == len(boxes)
            frame = mmaction2_frame(tmp_path / "frames", img_key)
            source_second = timestamp - (900 if video_id == "cut" else 0)
            assert shown_index(frame) == FPS * source_second
        with (notes / f"ava_dense_proposals_{split}.FAIR.recall_93.9.pkl").open("rb") as handle:
            proposals = pickle.load(handle)
        for img_key, array in proposals.items():
            assert array.dtype == np.float32 and array.shape[1] == 5
            assert img_key.split(",")[1] == f"{int(img_key.split(',')[1]):04d}"
    with (notes / "ava_dense_proposals_train.FAIR.recall_93.9.pkl").open("rb") as handle:
        train_proposals = pickle.load(handle)
    assert sorted(train_proposals) == ["walk,0903", "walk__p2,0902"]
    np.testing.assert_allclose(
        train_proposals["walk__p2,0902"], [[0.2, 0.1, 0.5, 0.9, 0.5], [0.6, 0.1, 0.9, 0.9, 0.99]]
    )
    excluded = (notes / "ava_train_excluded_timestamps_v2.2.csv").read_text()
    assert excluded == "walk,0904\n"
    assert loader_labelmap(notes / "ava_action_list_v2.2.pbtxt") == [
        (1, "bend/bow"),
        (12, "stand"),
        (17, "carry/hold"),
    ]
    evaluated = notes / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
    assert loader_labelmap(evaluated) == [(12, "stand"), (17, "carry/hold")]
    assert parse_labelmap(evaluated.read_text()).by_id()[12].type == "PERSON_MOVEMENT"
    assert "ab" * 32 in (tmp_path / "README.md").read_text()


def test_human_boxes_only_become_the_predicted_boxes_and_proposals(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    spec = spec_of(videos)
    without_detections = tuple(
        dataclasses.replace(
            video,
            keyframes=tuple(
                dataclasses.replace(keyframe, scored_boxes=()) for keyframe in video.keyframes
            ),
        )
        for video in spec.videos
    )
    summary = write_bundle(
        tmp_path, dataclasses.replace(spec, videos=without_detections), workers=0
    )
    assert summary.person_boxes == "ground_truth"
    notes = tmp_path / "annotations"
    # PySlowFast tests on exactly the ground-truth boxes of every not-excluded val keyframe.
    predicted = pyslowfast_boxes(notes / "ava_val_predicted_boxes.csv", "val", is_gt=False)
    truth = pyslowfast_boxes(notes / "ava_val_v2.2.csv", "val", is_gt=True)
    assert {
        (video, second): sorted(b[0] for b in boxes)
        for video, seconds in predicted.items()
        for second, boxes in seconds.items()
    } == {
        (video, second): sorted(b[0] for b in boxes)
        for video, seconds in truth.items()
        for second, boxes in seconds.items()
    }
    with (notes / "ava_dense_proposals_train.FAIR.recall_93.9.pkl").open("rb") as handle:
        proposals = pickle.load(handle)
    assert sorted(proposals) == ["walk,0903", "walk__p2,0902", "walk__p2,0904"]
    np.testing.assert_allclose(
        proposals["walk,0903"], [[0.1, 0.1, 0.4, 0.9, 1.0], [0.5, 0.1, 0.8, 0.9, 1.0]]
    )
    assert json.loads((tmp_path / "bundle.json").read_text())["person_boxes"] == "ground_truth"
    assert "ground-truth boxes with score 1.0" in (tmp_path / "README.md").read_text()


def test_one_detector_box_keeps_the_detector_boxes(videos: dict[str, Path], tmp_path: Path) -> None:
    summary = write_bundle(tmp_path, spec_of(videos), workers=0)
    assert summary.person_boxes == "detector"
    assert json.loads((tmp_path / "bundle.json").read_text())["person_boxes"] == "detector"


def test_boxes_without_a_person_id_get_new_unique_ones(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    write_bundle(tmp_path, spec_of(videos), workers=0)
    rows = [
        line.split(",")
        for line in (tmp_path / "annotations/ava_train_v2.2.csv").read_text().split()
    ]
    assert all(len(row) == 8 for row in rows)
    persons = {(row[0], row[1], row[2]): int(row[7]) for row in rows}
    assert persons["walk", "0903", "0.100"] == 7
    assert persons["walk", "0903", "0.500"] not in (7, 9)  # above every id the video uses
    assert persons["walk__p2", "0902", "0.200"] not in (7, 9, persons["walk", "0903", "0.500"])


def test_a_second_export_of_unchanged_videos_reuses_their_frames(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    first = write_bundle(tmp_path, spec_of(videos), workers=0)
    assert first.frames_written == 3 * 180 and first.frames_reused == 0
    second = write_bundle(tmp_path, spec_of(videos), workers=0)
    assert second.frames_written == 0 and second.frames_reused == 3 * 180
    changed = tmp_path / "walk-again.mp4"
    write_index_video(changed, 30, 180)
    spec = spec_of(videos)
    walk, cut = spec.videos
    spec = dataclasses.replace(spec, videos=(dataclasses.replace(walk, path=str(changed)), cut))
    third = write_bundle(tmp_path, spec, workers=0)
    assert third.frames_written == 2 * 180 and third.frames_reused == 180


def test_frames_follow_the_design_time_rule_at_any_frame_rate(tmp_path: Path) -> None:
    path = write_index_video(tmp_path / "pal.mp4", 25, 75)  # 3 s at 25 fps
    video = BundleVideo("pal", str(path), 0.0, (1, 1), "train", (BundleKeyframe(1),))
    write_bundle(tmp_path / "bundle", BundleSpec((video,), ACTIONS, EVALUATED, 72), workers=0)
    times = frame_times(path)
    frames = sorted((tmp_path / "bundle" / "frames" / "pal").glob("img_*.jpg"))
    assert len(frames) == FPS * (903 + 2 - 900)
    # frame j is shown at bundle time 900 + (j - 1) / 30 = file time (j - 1) / 30 - 2
    shown = [shown_index(frame) for frame in frames]
    assert shown == [shown_at(times, Fraction(j, FPS) - 2) for j in range(len(frames))]
    assert shown[: 2 * FPS + 1] == [0] * (2 * FPS + 1) and shown[-1] == 74  # edges repeat
