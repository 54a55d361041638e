"""Training samples as PySlowFast builds them for AVA: keyframes, boxes, clips and augmentation.

A sample is one keyframe with ground truth: its person boxes and their multi-hot labels, plus
(optionally) detector boxes that overlap a ground-truth box with IoU >= 0.9, which take that box's
labels. A sample's clip follows the DESIGN clip rule and is decoded once, by seeking to just
before its first frame; training augmentation (short-side scale jitter, a random crop that
holds a person box, horizontal flip) moves frames and boxes alike, drops boxes the crop leaves
less than half visible, and is a function of (seed, epoch, sample), so the data of a step does
not depend on which process or worker prepares it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from torch.utils.data import Dataset

from inference import ava, video
from inference.video import ClipSpec, Frame, Seconds

DETECTOR_IOU = 0.9  # a detector box this close to a ground-truth box takes its labels
SEEK_MARGIN = Fraction(1, 2)  # seconds before a clip's first frame that a seek aims at
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov")
MIN_VISIBLE = 0.5  # share of a box's area a training crop must keep for the box to train


@dataclass(frozen=True)
class Sample:
    """One training keyframe: boxes (N, 4) normalised x1 y1 x2 y2 and labels (N, classes)."""

    video_id: str
    timestamp: int
    boxes: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Augment:
    """Short-side jitter range and square crop (PySlowFast AVA: 256-320 and 224 for test 256)."""

    min_short_side: int
    max_short_side: int
    crop: int

    @classmethod
    def for_test_size(cls, short_side: int) -> Augment:
        """PySlowFast's AVA ratios: jitter [S, 1.25 S], crop 0.875 S, for test short side S."""
        return cls(short_side, short_side * 5 // 4, short_side * 7 // 8)


@dataclass
class Batch:
    """Clips (B, T*alpha, H, W, 3) uint8, boxes (N, 5) batch index + pixels, labels (N, C)."""

    clips: torch.Tensor
    boxes: torch.Tensor
    labels: torch.Tensor


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (N, M) of boxes a (N, 4) and b (M, 4), x1 y1 x2 y2."""
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def keyframe_samples(
    gt: ava.AvaRows,
    action_ids: Sequence[int],
    person_boxes: ava.AvaRows | None = None,
) -> list[Sample]:
    """Samples of every keyframe with a labelled box, in (video, timestamp) order.

    Rows of actions outside `action_ids` are dropped, and a box left without a label with them;
    detector boxes with IoU >= 0.9 to a ground-truth box are added with its labels.
    """
    column = {action_id: i for i, action_id in enumerate(action_ids)}
    keep = (gt.columns != 2) & np.isin(gt.action, list(column))
    boxes_of: dict[tuple[str, int], dict[tuple[float, ...], np.ndarray]] = {}
    for v, timestamp, box, action in zip(
        gt.video[keep], gt.timestamp[keep], gt.box[keep], gt.action[keep], strict=True
    ):
        key = (gt.videos[v], int(timestamp))
        labels = boxes_of.setdefault(key, {}).setdefault(
            tuple(box.tolist()), np.zeros(len(action_ids), np.float32)
        )
        labels[column[int(action)]] = 1.0
    detected: dict[tuple[str, int], np.ndarray] = {}
    if person_boxes is not None:
        rows = person_boxes.columns != 2
        for v in np.unique(person_boxes.video[rows]):
            mine = rows & (person_boxes.video == v)
            for timestamp in np.unique(person_boxes.timestamp[mine]):
                at = mine & (person_boxes.timestamp == timestamp)
                detected[(person_boxes.videos[v], int(timestamp))] = person_boxes.box[at]
    samples = []
    for key in sorted(boxes_of):
        boxes = np.array(list(boxes_of[key]), np.float32).reshape(-1, 4)
        labels = np.stack(list(boxes_of[key].values()))
        if key in detected and len(boxes):
            iou = box_iou(detected[key].astype(np.float32), boxes)  # (D, G)
            close = iou.max(axis=1) >= DETECTOR_IOU
            matched = iou.argmax(axis=1)[close]
            boxes = np.concatenate([boxes, detected[key][close].astype(np.float32)])
            labels = np.concatenate([labels, labels[matched]])
        samples.append(Sample(key[0], key[1], boxes, labels))
    return samples


def video_paths(directory: str | Path, video_ids: Sequence[str]) -> dict[str, Path]:
    """The file `<video id>.<ext>` in `directory` for each video id."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"videos directory {directory} does not exist")
    found = {
        path.stem: path
        for path in sorted(directory.iterdir())
        if path.suffix.lower() in VIDEO_EXTENSIONS
    }
    missing = sorted(set(video_ids) - set(found))
    if missing:
        raise ValueError(
            f"no video file in {directory} for video ids {missing[:5]}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        )
    return {video_id: found[video_id] for video_id in video_ids}


def _frames_from(
    container: av.container.InputContainer, path: str | Path, start: Fraction | None
) -> Iterator[Frame]:
    """Frames in presentation order from about `start` (file time) on, timed as in
    `video.iter_frames` (stream start as time 0, timestamps snapped to the frame-rate grid)."""
    stream = container.streams.video[0]
    if stream.time_base is None:
        raise ValueError(f"{path}: the video stream has no time base")
    tick = Fraction(stream.time_base)
    rate = stream.guessed_rate or stream.average_rate
    origin = stream.start_time
    if start is not None and origin is not None:
        container.seek(int(start / tick) + origin, stream=stream, backward=True, any_frame=False)
    for image in container.decode(stream):
        if image.pts is None:
            raise ValueError(f"{path}: a frame has no presentation timestamp")
        if origin is None:
            origin = image.pts
        time = Fraction(image.pts - origin) * tick
        if rate:
            on_grid = round(time * rate) / Fraction(rate)
            if abs(on_grid - time) <= tick / 2:
                time = on_grid
        yield Frame(index=-1, time=time, image=image)


def decode_clip(
    path: str | Path, times: Sequence[Fraction], short_side: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """Frames shown at `times` as (len(times), H, W, 3) uint8 at `short_side`, and (W, H)."""
    first = min(times) - SEEK_MARGIN
    for start in (first if first > 0 else None, None):
        with video._open(path) as container:
            frames = _frames_from(container, path, start)
            head = next(frames)
            if start is not None and head.time > min(times):
                continue  # the seek overshot (a file without an index): decode from the start
            size = video.resized_size(head.image.width, head.image.height, short_side)
            clip: list[np.ndarray | None] = [None] * len(times)
            chained = itertools.chain([head], frames)
            for frame, positions in video.select_frames(chained, list(times)):
                rgb = video.to_rgb(frame, size)
                for position in positions:
                    clip[position] = rgb
            return np.stack(clip), size  # type: ignore[arg-type]  # every slot is filled
    raise AssertionError("unreachable: decoding from the start never overshoots")


def _window_start(low: float, high: float, extent: int, crop: int, rng: np.random.Generator) -> int:
    """A random start of a `crop`-wide window inside [0, extent] that holds [low, high] (centred
    on it when it is wider than the window)."""
    centred = min(max(round((low + high - crop) / 2), 0), extent - crop)
    first, last = max(0, math.ceil(high - crop)), min(math.floor(low), extent - crop)
    if high - low >= crop or first > last:
        return centred
    return int(rng.integers(first, last + 1))


def augment(
    frames: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    crop: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random `crop` x `crop` window and a coin-flip horizontal flip of frames (T, H, W, 3) and
    pixel boxes (N, 4) with their labels (N, C).

    The window holds one person box drawn at random (so no clip is cropped to background while
    its boxes are clipped to slivers at the border); the other boxes are clipped to it, and those
    left less than half visible are dropped with their labels.
    """
    _, height, width, _ = frames.shape
    if min(height, width) < crop:
        raise ValueError(f"frames {width}x{height} are smaller than the crop {crop}")
    if len(boxes):
        anchor = int(rng.integers(len(boxes)))
        x1, y1, x2, y2 = boxes[anchor].tolist()
        x0 = _window_start(x1, x2, width, crop, rng)
        y0 = _window_start(y1, y2, height, crop, rng)
    else:
        anchor = -1
        y0 = int(rng.integers(0, height - crop + 1))
        x0 = int(rng.integers(0, width - crop + 1))
    frames = frames[:, y0 : y0 + crop, x0 : x0 + crop]
    clipped = np.clip(boxes - np.array([x0, y0, x0, y0], np.float32), 0, crop)
    keep = visible_share(boxes, clipped) >= MIN_VISIBLE
    if anchor >= 0:
        keep[anchor] = True  # a box larger than the window still trains, on its visible part
    boxes, labels = clipped[keep], labels[keep]
    if rng.random() < 0.5:
        frames = frames[:, :, ::-1]
        boxes = np.stack([crop - boxes[:, 2], boxes[:, 1], crop - boxes[:, 0], boxes[:, 3]], 1)
    return np.ascontiguousarray(frames), boxes.astype(np.float32), labels


def visible_share(boxes: np.ndarray, clipped: np.ndarray) -> np.ndarray:
    """Area of each clipped box (N, 4) as a share of its whole box's area (0 for empty boxes)."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    visible = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    return np.where(area > 0, visible / np.where(area > 0, area, 1), 0.0)


def class_prior_logits(samples: Sequence[Sample], classes: int) -> np.ndarray:
    """log(p / (1 - p)) of each class's share p of positive training boxes, for a new head's bias.

    A class no box has (or every box has) counts as if half a box differed, so the bias is
    finite: p is clipped to [0.5 / N, 1 - 0.5 / N] for N boxes.
    """
    labels = np.concatenate([np.zeros((0, classes), np.float32)] + [s.labels for s in samples])
    if not len(labels):
        return np.zeros(classes, np.float32)
    half = 0.5 / len(labels)
    share = np.clip(labels.mean(axis=0, dtype=np.float64), half, 1 - half)
    return np.log(share / (1 - share)).astype(np.float32)


class ClipDataset(Dataset):
    """Augmented training clips, indexed by (epoch, sample): the same key, the same data."""

    def __init__(
        self,
        samples: Sequence[Sample],
        paths: dict[str, Path],
        spec: ClipSpec,
        scales: Augment,
        seed: int,
        time_offset: Seconds = 0,
    ) -> None:
        self.samples = list(samples)
        self.paths = paths
        self.spec = spec
        self.scales = scales
        self.seed = seed
        self.time_offset = time_offset

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        epoch, index = key
        sample = self.samples[index]
        rng = np.random.default_rng([self.seed, epoch, index])
        short_side = int(rng.integers(self.scales.min_short_side, self.scales.max_short_side + 1))
        times = self.spec.fast_times(video.keyframe_file_time(sample.timestamp, self.time_offset))
        frames, size = decode_clip(self.paths[sample.video_id], times, short_side)
        pixels = video.boxes_to_pixels(sample.boxes, size)
        return augment(frames, pixels, sample.labels, self.scales.crop, rng)


def collate(items: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Batch:
    """Stack clips; boxes get their clip's batch index in column 0."""
    clips = torch.from_numpy(np.stack([frames for frames, _, _ in items]))
    boxes = np.concatenate(
        [
            np.concatenate([np.full((len(pixels), 1), i, np.float32), pixels], axis=1)
            for i, (_, pixels, _) in enumerate(items)
        ]
    )
    labels = np.concatenate([labels for _, _, labels in items])
    return Batch(clips=clips, boxes=torch.from_numpy(boxes), labels=torch.from_numpy(labels))


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The order samples are visited in an epoch: a function of seed and epoch alone."""
    return np.random.default_rng([seed, epoch, 7]).permutation(count)


class StepSampler:
    """Batches of (epoch, sample) keys for one process, global steps `first` to `last - 1`: each
    step's global batch is the next `batch_size` samples of its epoch's order, of which this
    process takes its share (`rank::world`)."""

    def __init__(
        self,
        count: int,
        batch_size: int,
        seed: int,
        first: int,
        last: int,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.count, self.batch_size, self.seed = count, batch_size, seed
        self.first, self.last = first, last
        self.rank, self.world = rank, world
        self.steps_per_epoch = count // batch_size

    def __len__(self) -> int:
        return max(self.last - self.first, 0)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.first, self.last):
            epoch, position = divmod(step, self.steps_per_epoch)
            order = epoch_order(self.count, self.seed, epoch)
            batch = order[position * self.batch_size : (position + 1) * self.batch_size]
            yield [(epoch, int(i)) for i in batch[self.rank :: self.world]]
