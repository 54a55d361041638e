"""Batched action scores for the person boxes of many keyframes of one video, from one decode.

A background thread decodes the video once, front to back, and assembles batches of clips (uint8,
at the checkpoint's short side) while the model scores the previous batch; normalisation runs on
the model's device.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference import ava, video
from inference.checkpoints import default_preprocess, load_model
from inference.concurrency import read_ahead
from inference.models import SlowFast
from inference.video import ClipSpec, DecodeStats, Frame, Seconds

CountProgress = Callable[[int, int], None]  # (done, total) keyframes
_QUEUE_BATCHES = 2  # batches prepared ahead of the model: overlap without hoarding memory


@dataclass(frozen=True)
class KeyframeBoxes:
    """Person boxes of a keyframe: source timestamp (s) and (N, 4) normalised x1 y1 x2 y2."""

    timestamp: int
    boxes: np.ndarray


@dataclass(frozen=True)
class Preprocess:
    """How clips are prepared for a model: short side in pixels, per-channel RGB mean and std."""

    short_side: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Preprocess:
        """From a checkpoint's `preprocess` dict; a scalar mean or std applies to all channels."""

        def channels(name: str) -> tuple[float, float, float]:
            value = values[name]
            items = [float(v) for v in value] if isinstance(value, Sequence) else [float(value)] * 3
            if len(items) != 3:
                raise ValueError(f"preprocess {name} must have 3 channels, got {value!r}")
            return items[0], items[1], items[2]

        return cls(short_side=int(values["short_side"]), mean=channels("mean"), std=channels("std"))


@dataclass
class _Batch:
    timestamps: list[int]
    clips: np.ndarray  # (B, T*alpha, H, W, 3) uint8
    boxes: np.ndarray  # (N, 5) float32: batch index, x1 y1 x2 y2 in pixels of the clip
    counts: list[int]  # boxes per keyframe


def clip_spec(model: SlowFast) -> ClipSpec:
    """The clip a model takes, from its config (`num_frames`, `alpha`, `tau`)."""
    config = model.config
    return ClipSpec(num_frames=config.num_frames, alpha=config.alpha, tau=config.tau)


def model_inputs(
    clips: torch.Tensor, spec: ClipSpec, pathways: int, preprocess: Preprocess
) -> list[torch.Tensor]:
    """Pathway tensors, each (B, 3, T, H, W) float normalised, from uint8 clips (B, T*alpha, H, W,
    3)."""
    mean = torch.tensor(preprocess.mean, device=clips.device).view(1, 3, 1, 1, 1)
    std = torch.tensor(preprocess.std, device=clips.device).view(1, 3, 1, 1, 1)
    scale, shift = 1 / (255 * std), -mean / std  # (x / 255 - mean) / std in two passes

    def normalise(frames: torch.Tensor) -> torch.Tensor:
        # (B, T, H, W, 3) memory seen as (B, 3, T, H, W) is the channels_last_3d the model runs in.
        return frames.permute(0, 4, 1, 2, 3).float().mul_(scale).add_(shift)

    fast = normalise(clips)  # (B, 3, T*alpha, H, W)
    if pathways == 1:
        return [fast]
    # Slow frames picked as uint8 (a quarter of the bytes), so both pathways stay channels-last.
    slow = normalise(clips[:, spec.slow_indices()])  # (B, 3, T, H, W)
    return [slow, fast]


def _prepare(
    video_path: str | Path,
    keyframes: Sequence[KeyframeBoxes],
    spec: ClipSpec,
    short_side: int,
    time_offset: Seconds,
    batch_size: int,
    stats: DecodeStats | None,
) -> Iterator[_Batch]:
    """Batches of clips and pixel boxes, in the order the decode completes the keyframes."""
    by_timestamp = {keyframe.timestamp: keyframe for keyframe in keyframes}
    requests = {
        keyframe.timestamp: spec.fast_times(
            video.keyframe_file_time(keyframe.timestamp, time_offset)
        )
        for keyframe in keyframes
    }
    sizes: list[tuple[int, int]] = []

    def convert(frame: Frame) -> np.ndarray:
        if not sizes:  # every frame is scaled to the first one's size
            sizes.append(video.resized_size(frame.image.width, frame.image.height, short_side))
        return video.to_rgb(frame, sizes[0])

    pending: list[tuple[int, list[np.ndarray]]] = []

    def batch() -> _Batch:
        boxes = [
            np.concatenate(
                [
                    np.full((len(by_timestamp[ts].boxes), 1), number, np.float32),
                    video.boxes_to_pixels(by_timestamp[ts].boxes, sizes[0]),
                ],
                axis=1,
            )
            for number, (ts, _) in enumerate(pending)
        ]
        return _Batch(
            timestamps=[ts for ts, _ in pending],
            clips=np.stack([np.stack(frames) for _, frames in pending]),
            boxes=np.concatenate(boxes),
            counts=[len(by_timestamp[ts].boxes) for ts, _ in pending],
        )

    with closing(video.iter_frames(video_path, stats=stats)) as frames:
        for timestamp, clip in video.gather_frames(frames, requests, convert):
            pending.append((timestamp, clip))
            if len(pending) == batch_size:
                yield batch()
                pending = []
    if pending:
        yield batch()


def predict_video(
    model: SlowFast,
    video_path: str | Path,
    keyframes: Sequence[KeyframeBoxes],
    *,
    time_offset: Seconds = 0,
    batch_size: int = 8,
    preprocess: Preprocess | None = None,
    progress: CountProgress | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (timestamp, (N, classes) float32 scores) per keyframe, decoding the video once.

    Keyframes come in the order their clips finish decoding (time order for sorted keyframes);
    keyframes without boxes come first with empty scores. `preprocess` defaults to the
    checkpoint's (`model.preprocess`). Stopping the iteration stops the decoding thread.
    """
    config = model.config
    if config.head != "detection":
        raise ValueError(f"predict needs a detection model, got head {config.head!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    seen: set[int] = set()
    for keyframe in keyframes:
        if keyframe.timestamp in seen:
            raise ValueError(f"keyframe {keyframe.timestamp} is listed twice")
        seen.add(keyframe.timestamp)
        if np.ndim(keyframe.boxes) != 2 or np.shape(keyframe.boxes)[1] != 4:
            shape = np.shape(keyframe.boxes)
            raise ValueError(f"keyframe {keyframe.timestamp}: boxes must be (N, 4), got {shape}")
    if preprocess is None:
        preprocess = Preprocess.from_dict(_model_preprocess(model))
    spec = clip_spec(model)
    device = next(model.parameters()).device
    total, done = len(keyframes), 0
    with_boxes = [keyframe for keyframe in keyframes if len(keyframe.boxes)]
    for keyframe in keyframes:
        if not len(keyframe.boxes):
            done += 1
            yield keyframe.timestamp, np.zeros((0, config.num_classes), np.float32)
    if progress is not None:
        progress(done, total)
    if not with_boxes:
        return

    batches = _prepare(
        video_path, with_boxes, spec, preprocess.short_side, time_offset, batch_size, stats
    )
    with read_ahead(batches, _QUEUE_BATCHES, name="predict-clips") as prepared:
        for item in prepared:
            scores = _score(model, item, spec, preprocess, device)
            parts = np.split(scores, np.cumsum(item.counts)[:-1])
            yield from zip(item.timestamps, parts, strict=True)
            done += len(item.timestamps)
            if progress is not None:
                progress(done, total)


def _score(
    model: SlowFast,
    batch: _Batch,
    spec: ClipSpec,
    preprocess: Preprocess,
    device: torch.device,
) -> np.ndarray:
    with torch.inference_mode():
        clips = torch.from_numpy(batch.clips).to(device, non_blocking=True)
        boxes = torch.from_numpy(batch.boxes).to(device)
        inputs = model_inputs(clips, spec, model.config.pathways, preprocess)
        if device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                scores = model(inputs, boxes)
        else:
            scores = model(inputs, boxes)
    return scores.float().cpu().numpy()  # (N, classes)


def _model_preprocess(model: SlowFast) -> Mapping[str, Any]:
    values = getattr(model, "preprocess", None)  # set by load_model; absent on a built model
    return default_preprocess(model.config) if values is None else values


# --- command line --------------------------------------------------------------------------------


def keyframes_from_person_boxes(rows: ava.AvaRows, video_id: str) -> list[KeyframeBoxes]:
    """Boxes per keyframe of one video in AVA person-box rows, in time order."""
    if video_id not in rows.videos:
        raise ValueError(f"no rows for video id {video_id!r} (the file has {list(rows.videos)})")
    mine = (rows.video == rows.videos.index(video_id)) & (rows.columns != 2)
    return [
        KeyframeBoxes(
            timestamp=int(timestamp),
            boxes=rows.box[mine & (rows.timestamp == timestamp)].astype(np.float32),
        )
        for timestamp in np.unique(rows.timestamp[mine]).tolist()
    ]


def prediction_rows(
    video_id: str,
    keyframes: Sequence[KeyframeBoxes],
    scores: Mapping[int, np.ndarray],
    action_ids: Sequence[int],
) -> ava.AvaRows:
    """AVA prediction rows: every box of every keyframe with every action and its score."""
    actions = np.asarray(action_ids, dtype=np.int64)
    timestamps, boxes, values = [], [], []
    for keyframe in sorted(keyframes, key=lambda k: k.timestamp):
        count = len(keyframe.boxes)
        timestamps.append(np.full(count * len(actions), keyframe.timestamp, np.int64))
        boxes.append(np.repeat(keyframe.boxes.astype(np.float64), len(actions), axis=0))
        values.append(scores[keyframe.timestamp].astype(np.float64).reshape(-1))
    total = sum(len(t) for t in timestamps)
    return ava.AvaRows(
        videos=(video_id,),
        video=np.zeros(total, np.int32),
        timestamp=np.concatenate(timestamps) if timestamps else np.zeros(0, np.int64),
        box=np.concatenate(boxes) if boxes else np.zeros((0, 4)),
        action=np.tile(actions, total // len(actions)) if total else np.zeros(0, np.int64),
        value=np.concatenate(values) if values else np.zeros(0),
        columns=np.full(total, 8, np.int8),
        line=np.zeros(total, np.int64),
    )


def cli(argv: list[str]) -> int:
    """`python -m inference predict VIDEO --checkpoint CKPT --boxes CSV --out CSV`."""
    parser = argparse.ArgumentParser(
        prog="python -m inference predict",
        description="Score the person boxes of a video's keyframes; write AVA prediction rows.",
    )
    parser.add_argument("video", help="video file")
    parser.add_argument("--checkpoint", required=True, help="one of our .pt checkpoints")
    parser.add_argument("--boxes", required=True, help="AVA person-box CSV")
    parser.add_argument("--out", required=True, help="AVA prediction CSV to write")
    parser.add_argument(
        "--time-offset",
        type=float,
        default=0.0,
        help="source time (s) at which the file starts: 900 for AVA cut files (default 0)",
    )
    parser.add_argument("--video-id", help="video id in the CSVs (default: the file's stem)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")
    args = parser.parse_args(argv)

    video_id = args.video_id or Path(args.video).stem
    try:
        info = video.probe(args.video)
        rows = ava.read_ava_csv(args.boxes, "person-boxes")
        keyframes = keyframes_from_person_boxes(rows, video_id)
        _check_inside(keyframes, info, args.time_offset)
    except ValueError as error:
        parser.error(str(error))
    model = load_model(args.checkpoint, device=args.device)
    label_map: ava.LabelMap = model.label_map  # type: ignore[assignment]  # set on load
    action_ids = list(label_map.ids)

    stats = DecodeStats()
    started = time.perf_counter()
    scores = dict(
        predict_video(
            model,
            args.video,
            keyframes,
            time_offset=args.time_offset,
            batch_size=args.batch_size,
            progress=_print_progress,
            stats=stats,
        )
    )
    seconds = time.perf_counter() - started
    predictions = prediction_rows(video_id, keyframes, scores, action_ids)
    ava.write_ava_csv(args.out, predictions, "predictions")
    summary = {
        "video_id": video_id,
        "keyframes": len(keyframes),
        "boxes": int(sum(len(k.boxes) for k in keyframes)),
        "rows": len(predictions),
        "seconds": round(seconds, 3),
        "keyframes_per_second": round(len(keyframes) / seconds, 3) if seconds else None,
        "frames_decoded": stats.frames_decoded,
        "frame_count": info.frame_count,
        "out": args.out,
    }
    print(f"wrote {len(predictions)} rows to {args.out}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    return 0


def _check_inside(
    keyframes: Sequence[KeyframeBoxes], info: video.VideoInfo, time_offset: float
) -> None:
    """A keyframe outside the file is a wrong time offset, not an edge case of the clip rule."""
    for keyframe in keyframes:
        file_time = video.keyframe_file_time(keyframe.timestamp, time_offset)
        if not 0 <= file_time <= Fraction(info.duration):
            raise ValueError(
                f"keyframe {keyframe.timestamp} is at file time {float(file_time):g} s, outside "
                f"{info.path} (0 to {info.duration:g} s); is --time-offset {time_offset:g} right?"
            )


def _print_progress(done: int, total: int) -> None:
    print(f"predict: {done}/{total} keyframes", file=sys.stderr, flush=True)
