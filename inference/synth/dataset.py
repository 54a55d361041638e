"""Generating a synthetic AVA-style dataset: videos, ground truth, person boxes, manifest.

Layout of a dataset directory:

    videos/<video_id>.mp4                 H.264, yuv420p
    action_list.pbtxt                     the taxonomy, `label { name label_id label_type }`
    <split>.csv                           ground truth (person id in column 8)
    <split>_predicted_boxes.csv           simulated detector boxes (score in column 8)
    <split>_excluded_timestamps.csv       keyframes evaluation ignores
    manifest.json                         what was generated, see `Manifest.to_json`

Splits are "train" and, with `val_videos`, "val" (the last videos). Video time offset is 0;
keyframes are the whole seconds at least 1 s from either end, and the box at keyframe t is the
person in the frame shown at t (the last frame starting at or before t). A box spans everything
drawn for the person (a carried prop included, the stool of a sitter not), hidden parts too,
clipped to the frame. A keyframe where the foreground object hides most of someone's box is
excluded: listed in the excluded file, absent from the ground truth; the simulated detector
still reports boxes there, as a real one would.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from inference import ava
from inference.boxes import iou
from inference.synth.actions import ACTION_BY_KEY, ACTIONS, segment_labels
from inference.synth.render import write_video
from inference.synth.scene import Scene
from inference.synth.schedule import make_scene

LABEL_MAP = "action_list.pbtxt"
MANIFEST = "manifest.json"
# A keyframe where the occluder hides this much of someone's box is excluded, as AVA excludes
# keyframes that cannot be annotated reliably.
EXCLUDE_HIDDEN = 0.6
MAX_PEOPLE = 4


@dataclass(frozen=True)
class DetectorConfig:
    """A simulated person detector: what share of people it finds and how many boxes are wrong.

    Detections match their ground truth box at IoU >= 0.5 and false positives match none, so
    recall and precision at IoU 0.5 are `recall` and `precision` in expectation.
    """

    recall: float = 0.9
    precision: float = 0.9
    jitter: float = 0.04  # standard deviation of each box edge, as a fraction of the box size

    def __post_init__(self) -> None:
        if not 0.0 <= self.recall <= 1.0:
            raise ValueError(f"detector recall {self.recall} must be in [0, 1]")
        if not 0.0 < self.precision <= 1.0:
            raise ValueError(f"detector precision {self.precision} must be in (0, 1]")
        if not 0.0 <= self.jitter <= 0.2:
            raise ValueError(f"detector jitter {self.jitter} must be in [0, 0.2]")


@dataclass(frozen=True)
class SynthConfig:
    """What to generate; the same config (seed included) always gives the same files."""

    videos: int = 1
    seconds: float = 10.0
    seed: int = 0
    fps: Fraction = Fraction(30)
    width: int = 640
    height: int = 360
    people: tuple[int, int] = (1, MAX_PEOPLE)  # fewest and most people per video
    val_videos: int = 0  # the last videos form a "val" split
    noise: float = 2.0  # luma noise standard deviation
    occluders: bool = True
    plain: bool = False  # flat background, still camera, no noise or occluder
    render: bool = True  # False: annotations only, no video files
    preset: str = "ultrafast"  # x264; "veryfast" writes files about half as big, slower
    crf: int = 23
    detector: DetectorConfig = field(default_factory=DetectorConfig)

    def __post_init__(self) -> None:
        if self.videos < 1:
            raise ValueError(f"videos {self.videos} must be at least 1")
        if not 0 <= self.val_videos <= self.videos:
            raise ValueError(f"val_videos {self.val_videos} must be in [0, videos={self.videos}]")
        if self.seconds < 2.0:
            raise ValueError(f"seconds {self.seconds} must be at least 2 (a keyframe at 1 s)")
        if self.fps <= 0:
            raise ValueError(f"fps {self.fps} must be positive")
        if self.width < 64 or self.height < 64 or self.width % 2 or self.height % 2:
            raise ValueError(f"size {self.width}x{self.height} must be even and at least 64x64")
        low, high = self.people
        if not 1 <= low <= high <= MAX_PEOPLE:
            raise ValueError(f"people {low}-{high} must be within 1-{MAX_PEOPLE}")
        if self.noise < 0 or self.noise > 20:
            raise ValueError(f"noise {self.noise} must be in [0, 20]")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf {self.crf} must be in [0, 51]")

    def video_id(self, index: int) -> str:
        """Id of video `index` (also its file name without extension)."""
        return f"synth{self.seed}_{index:03d}"

    def split(self, index: int) -> str:
        """Split of video `index`."""
        return "val" if index >= self.videos - self.val_videos else "train"

    def scene(self, index: int) -> Scene:
        """The scene of video `index` (decided by seed and index alone)."""
        return make_scene(
            self.video_id(index),
            self.seed,
            index,
            width=self.width,
            height=self.height,
            fps=self.fps,
            seconds=self.seconds,
            people=self.people,
            plain=self.plain,
            noise=self.noise,
            occluders=self.occluders,
        )


@dataclass(frozen=True)
class Keyframe:
    """Ground truth of one keyframe: (person id, box normalised x1 y1 x2 y2, action ids)."""

    timestamp: int
    frame: int
    people: tuple[tuple[int, tuple[float, float, float, float], tuple[int, ...]], ...]
    excluded: bool


@dataclass(frozen=True)
class VideoRecord:
    """One generated video and where its annotations went."""

    video_id: str
    split: str
    path: str | None  # relative to the dataset root; None when not rendered
    frames: int
    duration: float
    keyframes: tuple[Keyframe, ...] = field(repr=False)
    schedule: tuple[dict[str, Any], ...] = field(repr=False)


@dataclass(frozen=True)
class Manifest:
    """What `generate_dataset` wrote; paths are absolute."""

    root: Path
    config: SynthConfig
    label_map: Path
    ground_truth: dict[str, Path]  # split -> CSV
    person_boxes: dict[str, Path]
    excluded: dict[str, Path]
    videos: tuple[VideoRecord, ...]
    # split -> recall, precision and counts achieved, outside excluded keyframes
    detector: dict[str, dict[str, float]]

    def video_path(self, video_id: str) -> Path:
        """Absolute path of a rendered video."""
        for video in self.videos:
            if video.video_id == video_id and video.path is not None:
                return self.root / video.path
        raise ValueError(f"video {video_id!r} is not a rendered video of this dataset")

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON-ready data (file names relative to the root)."""
        config = asdict(self.config)
        config["fps"] = str(self.config.fps)

        def relative(paths: dict[str, Path]) -> dict[str, str]:
            return {split: path.name for split, path in paths.items()}

        return {
            "format": "synthetic-ava/1",
            "seed": self.config.seed,
            "fps": str(self.config.fps),
            "fps_float": float(self.config.fps),
            "width": self.config.width,
            "height": self.config.height,
            "seconds": self.config.seconds,
            "time_offset": 0,
            "config": config,
            "label_map": self.label_map.name,
            "ground_truth": relative(self.ground_truth),
            "person_boxes": relative(self.person_boxes),
            "excluded": relative(self.excluded),
            "detector": self.detector,
            "actions": [
                {"id": a.label_id, "name": a.name, "type": a.label_type, "key": a.key}
                for a in ACTIONS
            ],
            "videos": [
                {
                    "video_id": video.video_id,
                    "split": video.split,
                    "file": video.path,
                    "frames": video.frames,
                    "duration": video.duration,
                    "keyframes": [k.timestamp for k in video.keyframes],
                    "excluded": [k.timestamp for k in video.keyframes if k.excluded],
                    "people": list(video.schedule),
                }
                for video in self.videos
            ],
        }


def label_map() -> ava.LabelMap:
    """The synthetic taxonomy as a label map (AVA v2.2 ids and names)."""
    return ava.LabelMap(tuple(ava.ActionLabel(a.label_id, a.name, a.label_type) for a in ACTIONS))


def _hidden(box: tuple[float, float, float, float], rect: tuple[float, ...] | None) -> float:
    """Fraction of `box` (pixels) that rectangle `rect` covers."""
    if rect is None:
        return 0.0
    width = min(box[2], rect[2]) - max(box[0], rect[0])
    height = min(box[3], rect[3]) - max(box[1], rect[1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    return max(width, 0.0) * max(height, 0.0) / area if area > 0 else 0.0


def ground_truth(scene: Scene) -> tuple[Keyframe, ...]:
    """Boxes and labels of every keyframe of a scene, computed from geometry (no rendering)."""
    keyframes = []
    for timestamp in scene.keyframes():
        frame = scene.frame_at(timestamp)
        t = scene.frame_time(frame)
        occluder = scene.occluder_rect(t)
        people = []
        excluded = False
        for view in sorted(scene.people_at(t), key=lambda v: v.person_id):
            x1, y1, x2, y2 = view.box
            if x2 - x1 < 2.0 or y2 - y1 < 2.0:
                continue  # out of the frame
            excluded |= _hidden(view.box, occluder) >= EXCLUDE_HIDDEN
            box = (x1 / scene.width, y1 / scene.height, x2 / scene.width, y2 / scene.height)
            action_ids = tuple(ACTION_BY_KEY[key].label_id for key in view.labels)
            people.append((view.person_id, box, action_ids))
        keyframes.append(Keyframe(timestamp, frame, tuple(people), excluded))
    return tuple(keyframes)


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box a (4,) with boxes b (N, 4); 0 where neither has area."""
    return iou(a, b, zero_union=0.0)


def _rounded(box: np.ndarray) -> np.ndarray:
    """Clip to the frame and round as the CSV will, keeping at least 0.002 of size."""
    box = np.round(np.clip(box, 0.0, 1.0), 3)
    box[2] = max(box[2], min(box[0] + 0.002, 1.0))
    box[3] = max(box[3], min(box[1] + 0.002, 1.0))
    box[0] = min(box[0], box[2] - 0.002)
    box[1] = min(box[1], box[3] - 0.002)
    return box


Detection = tuple[int, tuple[float, ...], float, bool]  # timestamp, box, score, true positive


def detect(
    keyframes: tuple[Keyframe, ...], detector: DetectorConfig, rng: np.random.Generator
) -> list[Detection]:
    """Simulated detector boxes of every keyframe, best score first within a keyframe."""
    found: list[Detection] = []
    boxes_at: dict[int, list[np.ndarray]] = {k.timestamp: [] for k in keyframes}
    hits = 0
    for keyframe in keyframes:
        truth = np.array([box for _, box, _ in keyframe.people]).reshape(-1, 4)
        for gt in truth:
            if rng.random() >= detector.recall:
                continue
            size = np.array([gt[2] - gt[0], gt[3] - gt[1]] * 2)
            box = _rounded(gt.copy())
            for _ in range(10):  # jitter, but stay a true positive
                candidate = _rounded(gt + rng.normal(0.0, detector.jitter, 4) * size)
                if _overlap(candidate, gt[None, :])[0] >= 0.6:
                    box = candidate
                    break
            score = min(max(float(rng.beta(6.0, 1.3)), 0.01), 1.0)
            found.append((keyframe.timestamp, tuple(box.tolist()), score, True))
            boxes_at[keyframe.timestamp].append(box)
            hits += 1
    # False positives: as many as the precision asks for, rounded at random without bias,
    # spread over the keyframes; half are pieces of people, half background clutter. None
    # matches a person (IoU < 0.4) or overlaps another detection much (as after NMS).
    wanted = hits * (1.0 - detector.precision) / detector.precision
    count = int(wanted) + int(rng.random() < wanted - int(wanted))
    for _ in range(count):
        keyframe = keyframes[int(rng.integers(len(keyframes)))]
        truth = np.array([box for _, box, _ in keyframe.people]).reshape(-1, 4)
        for _ in range(50):
            if len(truth) and rng.random() < 0.5:
                gt = truth[int(rng.integers(len(truth)))]
                # The upper or lower part of a person, or a person with a neighbour's space.
                y_split = gt[1] + rng.uniform(0.25, 0.45) * (gt[3] - gt[1])
                width = (gt[2] - gt[0]) * rng.uniform(0.8, 1.5)
                pieces = (
                    [gt[0], gt[1], gt[2], y_split],
                    [gt[0], y_split, gt[2], gt[3]],
                    [gt[0] - width, gt[1], gt[2] + width, gt[3]],
                )
                box = np.array(pieces[int(rng.integers(3))])
            else:
                height = rng.uniform(0.15, 0.6)
                width = height * rng.uniform(0.25, 0.7)
                x1, y1 = rng.uniform(0.0, 1.0 - width), rng.uniform(0.0, 1.0 - height)
                box = np.array([x1, y1, x1 + width, y1 + height])
            box = _rounded(box)
            others = np.array(boxes_at[keyframe.timestamp]).reshape(-1, 4)
            if len(truth) and _overlap(box, truth).max() >= 0.4:
                continue
            if len(others) and _overlap(box, others).max() >= 0.5:
                continue
            score = min(max(float(rng.beta(2.0, 2.5)), 0.01), 1.0)
            found.append((keyframe.timestamp, tuple(box.tolist()), score, False))
            boxes_at[keyframe.timestamp].append(box)
            break
    found.sort(key=lambda detection: (detection[0], -detection[2]))
    return found


def _schedule(scene: Scene) -> tuple[dict[str, Any], ...]:
    people = []
    for person in scene.people:
        segments = []
        for segment in person.segments:
            motion = segment.motion
            labels = [ACTION_BY_KEY[key].label_id for key in segment_labels(motion)]
            segments.append(
                {
                    "start": segment.start,
                    "end": min(segment.end, scene.duration),
                    "pose": motion.pose,
                    "overlay": motion.overlay,
                    "action_ids": labels,
                }
            )
        people.append({"person_id": person.person_id, "size": person.size, "segments": segments})
    return tuple(people)


def generate_dataset(
    outdir: str | Path,
    config: SynthConfig | None = None,
    *,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
    **overrides: Any,
) -> Manifest:
    """Render and annotate a synthetic dataset into `outdir`.

    Fields of SynthConfig may be given as keyword arguments (`fps` and `size` also as text:
    "29.97", "640x360"). `jobs` > 1 renders that many videos at once in worker processes (the
    files are the same). `progress(done, total)` counts frames rendered.
    """
    if jobs < 1:
        raise ValueError(f"jobs {jobs} must be at least 1")
    config = config or SynthConfig()
    if "size" in overrides:
        overrides["width"], overrides["height"] = parse_size(overrides.pop("size"))
    if "fps" in overrides:
        overrides["fps"] = parse_fps(overrides["fps"])
    if isinstance(overrides.get("people"), int):
        overrides["people"] = (overrides["people"], overrides["people"])
    config = replace(config, **overrides)
    root = Path(outdir).resolve()
    (root / "videos").mkdir(parents=True, exist_ok=True)

    if config.render:
        _render_videos(config, root, jobs, progress)
    videos: list[VideoRecord] = []
    records: dict[str, dict[str, list]] = {}
    for index in range(config.videos):
        scene = config.scene(index)
        split = config.split(index)
        path = f"videos/{scene.video_id}.mp4" if config.render else None
        keyframes = ground_truth(scene)
        rng = np.random.default_rng([config.seed, index, 1])
        detections = detect(keyframes, config.detector, rng)
        split_records = records.setdefault(
            split, {"gt": [], "boxes": [], "excluded": [], "counts": [0, 0, 0]}
        )
        for keyframe in keyframes:
            if keyframe.excluded:
                split_records["excluded"].append((scene.video_id, keyframe.timestamp))
                continue
            for person_id, box, action_ids in keyframe.people:
                for action_id in action_ids:
                    split_records["gt"].append(
                        (scene.video_id, keyframe.timestamp, *box, action_id, person_id)
                    )
        excluded = {k.timestamp for k in keyframes if k.excluded}
        counts = split_records["counts"]  # people, true and false detections, as evaluated
        counts[0] += sum(len(k.people) for k in keyframes if not k.excluded)
        for timestamp, detected, score, true in detections:
            split_records["boxes"].append((scene.video_id, timestamp, *detected, None, score))
            if timestamp not in excluded:
                counts[1 if true else 2] += 1
        videos.append(
            VideoRecord(
                video_id=scene.video_id,
                split=split,
                path=path,
                frames=scene.frames,
                duration=scene.duration,
                keyframes=keyframes,
                schedule=_schedule(scene),
            )
        )

    ava.write_labelmap(root / LABEL_MAP, label_map())
    ground_truth_paths, box_paths, excluded_paths = {}, {}, {}
    detector_stats = {}
    for split, split_records in records.items():
        ground_truth_paths[split] = root / f"{split}.csv"
        box_paths[split] = root / f"{split}_predicted_boxes.csv"
        excluded_paths[split] = root / f"{split}_excluded_timestamps.csv"
        ava.write_ava_csv(ground_truth_paths[split], ava.rows_from_records(split_records["gt"]))
        ava.write_ava_csv(
            box_paths[split], ava.rows_from_records(split_records["boxes"]), kind="person-boxes"
        )
        ava.write_excluded(excluded_paths[split], split_records["excluded"])
        people, hits, false_positives = split_records["counts"]
        detector_stats[split] = {
            "people": people,
            "true_positives": hits,
            "false_positives": false_positives,
            "recall": hits / people if people else 0.0,
            "precision": hits / (hits + false_positives) if hits + false_positives else 1.0,
        }
    manifest = Manifest(
        root=root,
        config=config,
        label_map=root / LABEL_MAP,
        ground_truth=ground_truth_paths,
        person_boxes=box_paths,
        excluded=excluded_paths,
        videos=tuple(videos),
        detector=detector_stats,
    )
    text = json.dumps(manifest.to_json(), indent=1, sort_keys=False)
    (root / MANIFEST).write_text(text + "\n", encoding="utf-8")
    return manifest


def _write(config: SynthConfig, index: int, path: Path) -> int:
    """Render video `index` to `path` (in a worker process); return its frame count."""
    scene = config.scene(index)
    write_video(scene, path, preset=config.preset, crf=config.crf)
    return scene.frames


def _render_videos(
    config: SynthConfig, root: Path, jobs: int, progress: Callable[[int, int], None] | None
) -> None:
    total = sum(config.scene(i).frames for i in range(config.videos)) if progress else 0
    paths = [root / "videos" / f"{config.video_id(i)}.mp4" for i in range(config.videos)]
    done = 0
    if jobs == 1 or config.videos == 1:
        for index, path in enumerate(paths):

            def report(frames: int, _total: int, offset: int = done) -> None:
                if progress is not None:
                    progress(offset + frames, total)

            scene = config.scene(index)
            write_video(scene, path, preset=config.preset, crf=config.crf, progress=report)
            done += scene.frames
        return
    # Spawned workers: safe even when the caller has threads or torch loaded.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(_write, config, i, path) for i, path in enumerate(paths)]
        for future in as_completed(futures):
            done += future.result()
            if progress is not None:
                progress(done, total)


def parse_fps(value: str | float | Fraction) -> Fraction:
    """Frame rate from text or a number; 29.97, 23.976 and 59.94 mean the NTSC rates (x/1001)."""
    try:
        rate = Fraction(str(value)) if not isinstance(value, Fraction) else value
    except ValueError:
        raise ValueError(f"fps {value!r} is not a number or a fraction like 30000/1001") from None
    if rate <= 0 or rate > 240:
        raise ValueError(f"fps {value!r} must be in (0, 240]")
    if rate.denominator != 1 and rate.denominator != 1001:
        ntsc = rate * Fraction(1001, 1000)
        if abs(ntsc - round(ntsc)) < Fraction(1, 100):
            return Fraction(round(ntsc) * 1000, 1001)
        rate = rate.limit_denominator(1001)
    return rate


def parse_size(value: str | tuple[int, int]) -> tuple[int, int]:
    """(width, height) from "WxH" or a pair."""
    if isinstance(value, str):
        parts = value.lower().split("x")
        if len(parts) != 2 or not all(part.isdigit() for part in parts):
            raise ValueError(f"size {value!r} must look like 640x360")
        return int(parts[0]), int(parts[1])
    width, height = value
    return int(width), int(height)
