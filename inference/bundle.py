"""Training bundles that PySlowFast and mmaction2 read with their AVA defaults.

Layout (under the bundle directory):

    frames/<video>/img_00001.jpg ...      30 fps; frame j is shown at bundle time 900 + (j-1)/30
    frame_lists/train.csv, val.csv        `original_vido_id video_id frame_id path labels`
    annotations/ava_{train,val}_v2.2.csv  8 columns: video,second,x1,y1,x2,y2,action,person
    annotations/ava_val_predicted_boxes.csv
    annotations/ava_dense_proposals_{train,val}.FAIR.recall_93.9.pkl
    annotations/ava_{train,val}_excluded_timestamps_v2.2.csv
    annotations/ava_action_list_v2.2.pbtxt, ava_action_list_v2.2_for_activitynet_2019.pbtxt
    mapping.csv, bundle.json, README.md

Time: both tools use AVA's window, keyframes at seconds 902-1798 of frames that start at second
900. A video's keyframes map to bundle seconds by an integer shift per part: a video whose
keyframes all lie in the window keeps its seconds (AVA cut files); any other is cut into parts of
`part_seconds` (896 in the product) of file time, part k (`<video>`, `<video>__p2`, ...) mapping
file time `(k-1) * part_seconds + u` to bundle second `902 + u`. Each part has its own frames,
decoded from the one pass over its video, on the DESIGN time grid (times before the first frame
take the first frame, after the last the last).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import pickle
import shutil
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from inference.ava import LabelMap, format_labelmap

FPS = 30
FRAME_SECOND = 900  # bundle second of frame 1 (PySlowFast's and mmaction2's timestamp_start)
WINDOW = (902, 1798)  # keyframe seconds both tools use (PySlowFast's AVA_VALID_FRAMES)
PART_SECONDS = 896  # file time per part: the window's width
LAST_FRAME_SECOND = 1800  # mmaction2's timestamp_end: it never reads a frame past it
CLIP_MARGIN = 2  # seconds of frames after a part's last keyframe (a clip spans about +-1 s)
FILENAME = "img_{:05d}.jpg"
STAMP_FORMAT = 1
SPLITS = ("train", "val")
PROPOSALS = "ava_dense_proposals_{}.FAIR.recall_93.9.pkl"
MAX_NOTES = 50  # notes on what was dropped kept in a summary
# Where a bundle's predicted boxes and proposals come from: the detector's scored boxes, or, when
# the bundle has none at all, the ground-truth boxes with score 1.0 (see `write_bundle`).
DETECTOR_BOXES, GROUND_TRUTH_BOXES = "detector", "ground_truth"
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class BundleBox:
    """A ground-truth person box (normalised x1 y1 x2 y2) and its action ids."""

    x1: float
    y1: float
    x2: float
    y2: float
    person_id: int | None
    action_ids: tuple[int, ...]


@dataclass(frozen=True)
class ScoredBox:
    """A person box with its detector score (normalised x1 y1 x2 y2)."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float


@dataclass(frozen=True)
class BundleKeyframe:
    """A keyframe at a whole source second: its ground truth and scored person boxes."""

    timestamp: int
    boxes: tuple[BundleBox, ...] = ()
    scored_boxes: tuple[ScoredBox, ...] = ()
    excluded: bool = False


@dataclass(frozen=True)
class BundleVideo:
    """A dataset video as the bundle needs it; `keyframe_span` is its first and last keyframe
    (all of them, reviewed or not, so that the parts do not change as reviews go on)."""

    video_id: str
    path: str
    time_offset: float
    keyframe_span: tuple[int, int]
    split: str
    keyframes: tuple[BundleKeyframe, ...] = ()


@dataclass(frozen=True)
class BundlePart:
    """A bundle video: one part of a dataset video; bundle second = source timestamp + shift."""

    name: str
    video_id: str
    shift: int
    first_timestamp: int  # source seconds of the keyframes this part holds, inclusive
    last_timestamp: int

    def bundle_second(self, timestamp: int) -> int:
        """The bundle second of a source timestamp."""
        return timestamp + self.shift

    @property
    def frame_count(self) -> int:
        """Frames written: from bundle second 900 to a clip's reach past the last keyframe."""
        end = min(LAST_FRAME_SECOND, self.bundle_second(self.last_timestamp) + CLIP_MARGIN)
        return FPS * (end - FRAME_SECOND)

    def frame_times(self, time_offset: float) -> list[Fraction]:
        """File time of each frame (frame j at bundle time 900 + (j - 1) / 30)."""
        origin = FRAME_SECOND - self.shift - Fraction(repr(float(time_offset)))
        return [origin + Fraction(j, FPS) for j in range(self.frame_count)]


@dataclass(frozen=True)
class BundleSpec:
    """Everything a bundle holds, as plain data."""

    videos: tuple[BundleVideo, ...]
    actions: LabelMap  # every action
    evaluated: LabelMap  # the evaluation subset
    short_side: int = 360
    snapshot_hash: str = ""
    dataset: str = ""
    part_seconds: int = PART_SECONDS


@dataclass
class BundleSummary:
    """What `write_bundle` wrote."""

    parts: dict[str, list[str]] = field(default_factory=dict)  # split -> part names
    keyframes: dict[str, int] = field(default_factory=dict)  # split -> annotated keyframes
    rows: dict[str, int] = field(default_factory=dict)  # split -> annotation rows
    frames_written: int = 0
    frames_reused: int = 0
    dropped: list[str] = field(default_factory=list)  # what could not be expressed, and why
    person_boxes: str = DETECTOR_BOXES  # where the predicted boxes and proposals come from

    def as_dict(self) -> dict[str, object]:
        """The summary as JSON-able data."""
        return {
            "parts": self.parts,
            "keyframes": self.keyframes,
            "rows": self.rows,
            "frames_written": self.frames_written,
            "frames_reused": self.frames_reused,
            "dropped": self.dropped[:MAX_NOTES],
            "dropped_count": len(self.dropped),
            "person_boxes": self.person_boxes,
        }


# --- time mapping ------------------------------------------------------------------------------


def video_parts(
    video_id: str,
    time_offset: float,
    keyframe_span: tuple[int, int],
    part_seconds: int = PART_SECONDS,
) -> list[BundlePart]:
    """The parts of a video: its own seconds if its keyframes fit AVA's window, else parts of
    `part_seconds` of file time starting at bundle second 902."""
    first, last = keyframe_span
    if first > last:
        raise ValueError(f"video {video_id!r}: keyframe span {keyframe_span} is empty")
    if not 1 <= part_seconds <= WINDOW[1] - WINDOW[0] + 1:
        raise ValueError(f"part length {part_seconds} s: must be in 1..{WINDOW[1] - WINDOW[0] + 1}")
    if WINDOW[0] <= first and last <= WINDOW[1]:
        return [BundlePart(video_id, video_id, 0, first, last)]
    start = math.ceil(time_offset)  # source second of file time 0 (to the whole second)
    if first < start:
        raise ValueError(
            f"video {video_id!r}: keyframe {first} is before the file starts ({time_offset} s)"
        )
    parts = []
    for k in range((first - start) // part_seconds, (last - start) // part_seconds + 1):
        begin = start + k * part_seconds
        name = video_id if k == 0 else f"{video_id}__p{k + 1}"
        shift = WINDOW[0] - begin
        end = min(last, begin + part_seconds - 1)
        parts.append(BundlePart(name, video_id, shift, max(first, begin), end))
    return parts


def part_of(parts: Sequence[BundlePart], timestamp: int) -> BundlePart | None:
    """The part holding a source timestamp, or None."""
    for part in parts:
        if part.first_timestamp <= timestamp <= part.last_timestamp:
            return part
    return None


def frame_name(bundle_second: int) -> str:
    """File name of the frame shown at a whole bundle second (mmaction2's 1-based index)."""
    return FILENAME.format(FPS * (bundle_second - FRAME_SECOND) + 1)


# --- frames ------------------------------------------------------------------------------------


def _encode_jpeg(image: np.ndarray, paths: Sequence[str], quality: int) -> int:
    """Write an RGB image (H, W, 3) as JPEG to each path; the number written."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    payload = buffer.getvalue()
    for path in paths:
        Path(path).write_bytes(payload)
    return len(paths)


def _executor(workers: int) -> Executor:
    """Worker processes, spawned: a forked child of a process with threads (FFmpeg's decoders, a
    job's heartbeat) can inherit a lock held at the fork and hang. Threads where this process may
    not start any (a daemonic one); the JPEG encoder releases the GIL."""
    import multiprocessing

    if workers > 0 and not multiprocessing.current_process().daemon:
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )
    return ThreadPoolExecutor(max_workers=max(workers, 1))


def _stamp(video: BundleVideo, part: BundlePart, short_side: int) -> dict[str, object]:
    stat = os.stat(video.path)
    return {
        "format": STAMP_FORMAT,
        "source": os.path.abspath(video.path),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "time_offset": video.time_offset,
        "shift": part.shift,
        "frames": part.frame_count,
        "short_side": short_side,
    }


def _stamp_path(frames_dir: Path, part: BundlePart) -> Path:
    return frames_dir / ".stamps" / f"{part.name}.json"


def _reusable(frames_dir: Path, part: BundlePart, stamp: dict[str, object]) -> bool:
    path = _stamp_path(frames_dir, part)
    try:
        return json.loads(path.read_text(encoding="utf-8")) == stamp
    except (OSError, ValueError):
        return False


def write_video_frames(
    frames_dir: Path,
    video: BundleVideo,
    parts: Sequence[BundlePart],
    *,
    short_side: int,
    executor: Executor,
    progress: Callable[[int], None] | None = None,
    quality: int = 90,
    in_flight: int = 32,
) -> tuple[int, int]:
    """Decode a video once and write every part's frames; (frames written, frames reused).

    A part whose stamp says it was written from the same file with the same settings is kept.
    """
    from inference.video import iter_frames, probe, resized_size, select_frames, to_rgb

    stamps = {part.name: _stamp(video, part, short_side) for part in parts}
    todo = [part for part in parts if not _reusable(frames_dir, part, stamps[part.name])]
    reused = sum(part.frame_count for part in parts if part not in todo)
    if not todo:
        return 0, reused
    paths: list[str] = []
    times: list[Fraction] = []
    for part in todo:
        _stamp_path(frames_dir, part).unlink(missing_ok=True)
        directory = frames_dir / part.name
        if directory.is_dir():
            shutil.rmtree(directory)  # a longer earlier part's frames must not outlive it
        directory.mkdir(parents=True)
        paths.extend(str(directory / FILENAME.format(j + 1)) for j in range(part.frame_count))
        times.extend(part.frame_times(video.time_offset))
    info = probe(video.path)
    size = resized_size(info.width, info.height, short_side)
    pending: list[Future[int]] = []
    written = 0
    for frame, positions in select_frames(iter_frames(video.path), times):
        image = to_rgb(frame, size)  # (H, W, 3)
        pending.append(executor.submit(_encode_jpeg, image, [paths[p] for p in positions], quality))
        while len(pending) > in_flight:
            written += pending.pop(0).result()
            if progress is not None:
                progress(written)
    for future in pending:
        written += future.result()
        if progress is not None:
            progress(written)
    assert written == len(paths), (written, len(paths))
    for part in todo:
        stamp_path = _stamp_path(frames_dir, part)
        stamp_path.parent.mkdir(parents=True, exist_ok=True)
        stamp_path.write_text(json.dumps(stamps[part.name]), encoding="utf-8")
    return written, reused


# --- annotations -------------------------------------------------------------------------------


def _person_ids(video: BundleVideo) -> dict[tuple[int, int], int]:
    """A person id for each (keyframe, box) position: the box's own, else a new one unique in the
    video (above every id the video uses)."""
    used = [
        box.person_id
        for keyframe in video.keyframes
        for box in keyframe.boxes
        if box.person_id is not None
    ]
    fresh = max(used, default=-1) + 1
    ids = {}
    for k, keyframe in enumerate(video.keyframes):
        for b, box in enumerate(keyframe.boxes):
            if box.person_id is None:
                ids[k, b] = fresh
                fresh += 1
            else:
                ids[k, b] = box.person_id
    return ids


def _coords(box: BundleBox | ScoredBox) -> str:
    return f"{box.x1:.3f},{box.y1:.3f},{box.x2:.3f},{box.y2:.3f}"


@dataclass
class _SplitFiles:
    """Text of one split's files, gathered video by video."""

    frame_list: list[str] = field(default_factory=list)
    annotations: list[str] = field(default_factory=list)
    predicted: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    proposals: dict[str, np.ndarray] = field(default_factory=dict)
    keyframes: int = 0
    parts: list[str] = field(default_factory=list)


def _video_rows(
    video: BundleVideo,
    parts: Sequence[BundlePart],
    files: _SplitFiles,
    known: set[int],
    summary: BundleSummary,
) -> list[tuple[str, int, str, int]]:
    """Append a video's rows to its split's files; return its mapping rows."""
    mapping = []
    person_ids = _person_ids(video)
    for k, keyframe in enumerate(video.keyframes):
        part = part_of(parts, keyframe.timestamp)
        where = f"{video.video_id}@{keyframe.timestamp}"
        if part is None or not WINDOW[0] <= part.bundle_second(keyframe.timestamp) <= WINDOW[1]:
            summary.dropped.append(f"{where}: outside the bundle's time window")
            continue
        second = part.bundle_second(keyframe.timestamp)
        mapping.append((part.name, second, video.video_id, keyframe.timestamp))
        if keyframe.excluded:
            files.excluded.append(f"{part.name},{second:04d}\n")
            continue
        rows: list[str] = []
        for b, box in enumerate(keyframe.boxes):
            actions = [action for action in box.action_ids if action in known]
            if len(actions) < len(box.action_ids):
                summary.dropped.append(f"{where}: a label outside the label map")
            if not actions:
                summary.dropped.append(f"{where}: a box without labels (neither tool reads one)")
            rows.extend(
                f"{part.name},{second:04d},{_coords(box)},{action},{person_ids[k, b]}\n"
                for action in actions
            )
        if rows:
            files.keyframes += 1
            files.annotations.extend(rows)
        elif not keyframe.boxes:
            summary.dropped.append(f"{where}: a reviewed keyframe without people")
        scored = keyframe.scored_boxes
        if summary.person_boxes == GROUND_TRUTH_BOXES:
            scored = tuple(ScoredBox(b.x1, b.y1, b.x2, b.y2, 1.0) for b in keyframe.boxes)
        if scored:
            files.predicted.extend(
                f"{part.name},{second:04d},{_coords(box)},,{box.score:.6f}\n" for box in scored
            )
            files.proposals[f"{part.name},{second:04d}"] = np.array(
                [(box.x1, box.y1, box.x2, box.y2, box.score) for box in scored], np.float32
            )
    return mapping


def _frame_list_rows(part: BundlePart, index: int) -> Iterator[str]:
    for j in range(part.frame_count):
        yield f'{part.name} {index} {j} {part.name}/{FILENAME.format(j + 1)} ""\n'


def write_bundle(
    out_dir: str | os.PathLike[str],
    spec: BundleSpec,
    *,
    workers: int = 2,
    progress: Progress | None = None,
) -> BundleSummary:
    """Write a training bundle: frames (reused where unchanged), frame lists, annotations,
    proposals, label maps, mapping and README."""
    out = Path(out_dir)
    frames_dir, lists_dir, notes_dir = out / "frames", out / "frame_lists", out / "annotations"
    for directory in (frames_dir, lists_dir, notes_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if spec.short_side < 1:
        raise ValueError(f"short side {spec.short_side}: must be positive")
    summary = BundleSummary()
    # A dataset of human boxes only has no detections: PySlowFast would then test on no box at all
    # and mmaction2 propose the whole frame, so the ground-truth boxes stand in (score 1.0, above
    # both tools' 0.9 thresholds), as for AVA's "ground-truth boxes" evaluation. Never mixed: one
    # detector box anywhere keeps the detector's boxes everywhere.
    if not any(keyframe.scored_boxes for video in spec.videos for keyframe in video.keyframes):
        summary.person_boxes = GROUND_TRUTH_BOXES
    known = set(spec.actions.ids)
    files = {split: _SplitFiles() for split in SPLITS}
    mapping: list[tuple[str, int, str, int]] = []
    plan: list[tuple[BundleVideo, list[BundlePart]]] = []
    for video in spec.videos:
        if video.split not in SPLITS:
            raise ValueError(f"video {video.video_id!r}: split {video.split!r} not in {SPLITS}")
        parts = video_parts(
            video.video_id, video.time_offset, video.keyframe_span, spec.part_seconds
        )
        plan.append((video, parts))
        video_files = files[video.split]
        mapping.extend(_video_rows(video, parts, video_files, known, summary))
        for part in parts:
            video_files.frame_list.extend(_frame_list_rows(part, len(video_files.parts)))
            video_files.parts.append(part.name)

    total = sum(part.frame_count for _, parts in plan for part in parts) or 1
    done = 0

    def reporter(name: str) -> Callable[[int], None]:
        def report(count: int) -> None:
            if progress is not None:
                progress((done + count) / total, f"frames of {name}")

        return report

    with _executor(workers) as executor:
        for video, parts in plan:
            written, reused = write_video_frames(
                frames_dir,
                video,
                parts,
                short_side=spec.short_side,
                executor=executor,
                progress=reporter(video.video_id),
            )
            summary.frames_written += written
            summary.frames_reused += reused
            done += written + reused

    header = "original_vido_id video_id frame_id path labels\n"
    for split, split_files in files.items():
        (lists_dir / f"{split}.csv").write_text(
            header + "".join(split_files.frame_list), encoding="utf-8"
        )
        (notes_dir / f"ava_{split}_v2.2.csv").write_text(
            "".join(split_files.annotations), encoding="utf-8"
        )
        (notes_dir / f"ava_{split}_excluded_timestamps_v2.2.csv").write_text(
            "".join(split_files.excluded), encoding="utf-8"
        )
        with (notes_dir / PROPOSALS.format(split)).open("wb") as pickled:
            pickle.dump(split_files.proposals, pickled, protocol=4)
        summary.parts[split] = split_files.parts
        summary.keyframes[split] = split_files.keyframes
        summary.rows[split] = len(split_files.annotations)
    (notes_dir / "ava_val_predicted_boxes.csv").write_text(
        "".join(files["val"].predicted), encoding="utf-8"
    )
    (notes_dir / "ava_action_list_v2.2.pbtxt").write_text(
        format_labelmap(spec.actions), encoding="utf-8"
    )
    (notes_dir / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").write_text(
        format_labelmap(spec.evaluated), encoding="utf-8"
    )
    with (out / "mapping.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["bundle_video", "bundle_second", "video_id", "timestamp"])
        writer.writerows(sorted(mapping))
    (out / "bundle.json").write_text(
        json.dumps(
            {
                "dataset": spec.dataset,
                "snapshot_hash": spec.snapshot_hash,
                "short_side": spec.short_side,
                "part_seconds": spec.part_seconds,
                "val_videos": sorted(v.video_id for v in spec.videos if v.split == "val"),
                **summary.as_dict(),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    (out / "README.md").write_text(readme_text(spec, summary), encoding="utf-8")
    return summary


def readme_text(spec: BundleSpec, summary: BundleSummary) -> str:
    """The bundle's README: what is in it and the config lines that read it."""
    digest = spec.snapshot_hash or "(not recorded)"
    return f"""# AVA training bundle of dataset {spec.dataset!r}

Dataset snapshot sha256: {digest}
Train videos: {len(summary.parts.get("train", []))} parts, {summary.keyframes.get("train", 0)} \
keyframes; validation: {len(summary.parts.get("val", []))} parts, \
{summary.keyframes.get("val", 0)} keyframes.

Frames are 30 fps (short side {spec.short_side}); frame `img_{{j:05d}}.jpg` is shown at bundle
second 900 + (j - 1) / 30, so the keyframe of second s is frame 30 * (s - 900) + 1. Keyframes lie in
seconds 902-1798. `mapping.csv` maps each bundle video and second to the dataset's video id and
source timestamp; a video longer than {spec.part_seconds} s is split into parts `<video>__p2`, ...
Annotations hold ground truth on reviewed keyframes only, 8 columns (every box has a person id).

## PySlowFast (set only these; every file name is `_C.AVA`'s default)

    AVA:
      FRAME_DIR: <this directory>/frames
      FRAME_LIST_DIR: <this directory>/frame_lists
      ANNOTATION_DIR: <this directory>/annotations

    MODEL:
      NUM_CLASSES: {max(spec.actions.ids, default=0)}  # the largest action id (labels are 1-based)

Testing reads `ava_val_predicted_boxes.csv` (boxes with a score >= 0.9, as
`AVA.DETECTION_SCORE_THRESH`); on validation it uses only seconds divisible by 4 unless
`AVA.FULL_TEST_ON_VAL: True`.

{_person_boxes_text(summary)}

## mmaction2 (`AVADataset`)

    data_root = '<this directory>/frames'
    anno_root = '<this directory>/annotations'
    ann_file_train = f'{{anno_root}}/ava_train_v2.2.csv'
    ann_file_val = f'{{anno_root}}/ava_val_v2.2.csv'
    exclude_file_train = f'{{anno_root}}/ava_train_excluded_timestamps_v2.2.csv'
    exclude_file_val = f'{{anno_root}}/ava_val_excluded_timestamps_v2.2.csv'
    label_file = f'{{anno_root}}/ava_action_list_v2.2.pbtxt'
    proposal_file_train = f'{{anno_root}}/ava_dense_proposals_train.FAIR.recall_93.9.pkl'
    proposal_file_val = f'{{anno_root}}/ava_dense_proposals_val.FAIR.recall_93.9.pkl'
    # dataset: type='AVADataset', data_prefix=dict(img=data_root), timestamp_start=900,
    #          num_classes={max(spec.actions.ids, default=0) + 1}  (the largest action id + 1)

"""


def _person_boxes_text(summary: BundleSummary) -> str:
    if summary.person_boxes == GROUND_TRUTH_BOXES:
        return (
            "Person boxes: the dataset has no detector boxes, so `ava_val_predicted_boxes.csv`\n"
            "and the proposal files hold the ground-truth boxes with score 1.0 (testing then\n"
            "scores the actions on the true people, AVA's ground-truth-box setting)."
        )
    return (
        "Person boxes: `ava_val_predicted_boxes.csv` and the proposal files hold the detector's\n"
        "boxes with their scores; keyframes without one have no proposals (mmaction2 then\n"
        "proposes the whole frame)."
    )
