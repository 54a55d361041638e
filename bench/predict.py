"""Batched prediction over every keyframe of a generated 5-minute 30 fps video (small preset).

Measures, in one run on the same video and model:
- `predict_video` end to end (one front-to-back decode, clips prepared in a thread): keyframes/s
  and frames decoded per frame of the video (floor: <= 1.05);
- the model alone on clips decoded beforehand (a sample of batches): the ceiling for end to end;
- the reference way to load clips, a seek and a decode per keyframe (as a per-keyframe data loader
  does), against our single pass, decoding only: keyframes/s and frames decoded per video frame.

Usage: .venv/bin/python bench/predict.py [--minutes 5] [--workdir /tmp/bench_predict]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from inference import video
from inference.models import build_model, preset
from inference.predict import (
    KeyframeBoxes,
    Preprocess,
    clip_spec,
    model_inputs,
    predict_video,
)
from inference.video import DecodeStats

WIDTH, HEIGHT, FPS = 640, 360, 30
BOXES = np.array([[0.1, 0.2, 0.3, 0.9], [0.4, 0.1, 0.6, 0.8], [0.7, 0.3, 0.95, 0.95]], np.float32)


def write_video(path: Path, seconds: int) -> None:
    """Moving shapes over a gradient with mild noise: cheap to make, real work for a decoder."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    background = np.stack(
        [x * 255 // WIDTH, y * 255 // HEIGHT, (x + y) * 255 // (WIDTH + HEIGHT)], -1
    )
    noise = rng.integers(0, 24, size=(8, HEIGHT, WIDTH, 3))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23", "g": "250"}
        for k in range(seconds * FPS):
            image = (background + noise[k % 8]).astype(np.uint8)
            for j in range(4):
                cx = int((WIDTH - 80) * (0.5 + 0.5 * np.sin(k / 40 + j * 1.7)))
                cy = int((HEIGHT - 120) * (0.5 + 0.5 * np.cos(k / 55 + j)))
                image[cy : cy + 120, cx : cx + 80] = (60 * j, 255 - 50 * j, 128)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def seek_per_keyframe(
    path: Path, requests: dict[int, list[Fraction]], size: tuple[int, int]
) -> int:
    """Reference loader: per keyframe, seek before its first time, decode and convert its frames."""
    decoded = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tick = stream.time_base
        for times in requests.values():
            container.seek(max(int(times[0] / tick), 0), stream=stream, backward=True)
            pending = list(times)
            previous = None
            for image in container.decode(stream):
                decoded += 1
                while pending and pending[0] < image.pts * tick:
                    shown = previous or image
                    shown.to_ndarray(
                        width=size[0], height=size[1], format="rgb24", interpolation="BILINEAR"
                    )
                    pending.pop(0)
                if not pending:
                    break
                previous = image
    return decoded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--workdir", default="/tmp/bench_predict")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--reference-keyframes", type=int, default=40)
    args = parser.parse_args()

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    seconds = int(args.minutes * 60)
    path = workdir / f"bench_{seconds}s_{WIDTH}x{HEIGHT}_{FPS}fps.mp4"
    if not path.exists():
        started = time.perf_counter()
        write_video(path, seconds)
        print(f"wrote {path} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    info = video.probe(path)
    torch.manual_seed(0)
    model = build_model(preset("small")).eval()
    spec = clip_spec(model)
    preprocess = Preprocess(model.config.crop_size, (0.45,) * 3, (0.225,) * 3)
    timestamps = video.default_keyframes(info.duration)
    keyframes = [KeyframeBoxes(ts, BOXES) for ts in timestamps]
    results: dict[str, object] = {
        "video": f"{seconds} s, {WIDTH}x{HEIGHT}, {FPS} fps, {info.frame_count} frames",
        "keyframes": len(keyframes),
        "boxes_per_keyframe": len(BOXES),
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
    }

    # End to end.
    stats = DecodeStats()
    started = time.perf_counter()
    scores = dict(predict_video(model, path, keyframes, batch_size=args.batch_size, stats=stats))
    elapsed = time.perf_counter() - started
    assert len(scores) == len(keyframes)
    end_to_end = len(keyframes) / elapsed
    decoded_per_frame = stats.frames_decoded / info.frame_count
    results["end_to_end_keyframes_per_s"] = round(end_to_end, 2)
    results["end_to_end_frames_decoded_per_video_frame"] = round(decoded_per_frame, 4)

    # The model alone on clips decoded beforehand: 4 batches from the middle of the video.
    sample = timestamps[len(timestamps) // 2 :][: 4 * args.batch_size]
    requests = {ts: spec.fast_times(Fraction(ts)) for ts in sample}
    size = video.resized_size(info.width, info.height, preprocess.short_side)
    clips = dict(
        video.gather_frames(video.iter_frames(path), requests, lambda f: video.to_rgb(f, size))
    )
    batches = [
        np.stack([np.stack(clips[ts]) for ts in sample[i : i + args.batch_size]])
        for i in range(0, len(sample), args.batch_size)
    ]
    pixels = torch.from_numpy(video.boxes_to_pixels(BOXES, size))
    rois = torch.cat(
        [
            torch.cat([torch.full((len(BOXES), 1), float(b)), pixels], 1)
            for b in range(args.batch_size)
        ]
    )  # (batch_size * boxes, 5)
    with torch.inference_mode():
        started = time.perf_counter()
        for batch in batches:
            inputs = model_inputs(torch.from_numpy(batch), spec, model.config.pathways, preprocess)
            model(inputs, rois[: len(batch) * len(BOXES)])
        model_seconds = time.perf_counter() - started
    model_alone = len(sample) / model_seconds
    results["model_alone_keyframes_per_s"] = round(model_alone, 2)
    results["end_to_end_vs_model_alone"] = round(end_to_end / model_alone, 3)

    # Decoding strategies alone, on the same keyframes (a sample for the slow reference).
    every = max(1, len(timestamps) // args.reference_keyframes)
    chosen = timestamps[::every][: args.reference_keyframes]
    requests = {ts: spec.fast_times(Fraction(ts)) for ts in chosen}
    started = time.perf_counter()
    reference_decoded = seek_per_keyframe(path, requests, size)
    reference_seconds = time.perf_counter() - started
    all_requests = {ts: spec.fast_times(Fraction(ts)) for ts in timestamps}
    stats = DecodeStats()
    started = time.perf_counter()
    for _ in video.gather_frames(
        video.iter_frames(path, stats=stats), all_requests, lambda f: video.to_rgb(f, size)
    ):
        pass
    ours_seconds = time.perf_counter() - started
    results["decode_only_one_pass_keyframes_per_s"] = round(len(timestamps) / ours_seconds, 2)
    results["decode_only_one_pass_frames_per_video_frame"] = round(
        stats.frames_decoded / info.frame_count, 4
    )
    results["decode_only_seek_per_keyframe_keyframes_per_s"] = round(
        len(chosen) / reference_seconds, 2
    )
    results["decode_only_seek_per_keyframe_frames_per_video_frame"] = round(
        reference_decoded / len(chosen) * len(timestamps) / info.frame_count, 3
    )
    results["floor_frames_decoded_ok"] = decoded_per_frame <= 1.05
    print(json.dumps(results))
    return 0 if decoded_per_frame <= 1.05 else 1


if __name__ == "__main__":
    sys.exit(main())
