"""Synthetic dataset rendering speed, as a multiple of real time (issue 6: at least 5x at 640x360,
30 fps, any x264 preset).

For each preset, the same run measures: the whole generator (`generate_dataset`: scenes, drawing,
encoding, annotations), drawing alone (`Renderer.frame` for every frame, no encoding) and the
reference, PyAV/x264 encoding alone of already drawn frames with the same settings, which bounds
what any generator writing these files can reach. Wall and CPU seconds (all threads) are both
reported, with the load average, because other work on the machine slows wall-clock numbers.
Usage: .venv/bin/python bench/synth.py [--videos 3] [--seconds 10] [--presets ultrafast,veryfast]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference.synth import Renderer, SynthConfig, generate_dataset  # noqa: E402
from inference.synth.render import BATCH  # noqa: E402


def timed(work: object) -> tuple[float, float]:
    """Wall and process CPU seconds of calling `work()`."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu


def draw_all(config: SynthConfig) -> None:
    for index in range(config.videos):
        renderer = Renderer(config.scene(index))
        frames = renderer.scene.frames
        for start in range(0, frames, BATCH):  # as write_video draws them
            renderer.frames(start, min(BATCH, frames - start))


def encode_only(config: SynthConfig, path: Path) -> tuple[float, float]:
    """Encode as many frames as the dataset has, cycling 2 s of drawn frames, with its settings."""
    renderer = Renderer(config.scene(0))
    cycle = renderer.frames(0, min(renderer.scene.frames, 2 * round(config.fps)))
    total = sum(config.scene(i).frames for i in range(config.videos))

    def encode() -> None:
        with av.open(str(path), mode="w") as container:
            stream = container.add_stream("libx264", rate=config.fps)
            stream.width, stream.height, stream.pix_fmt = config.width, config.height, "yuv420p"
            stream.options = {"preset": config.preset, "crf": str(config.crf), "threads": "2"}
            for index in range(total):
                frame = av.VideoFrame.from_ndarray(cycle[index % len(cycle)], format="yuv420p")
                frame.pts, frame.time_base = index, 1 / config.fps
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))

    return timed(encode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", default="30")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--presets", default="ultrafast,veryfast")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    base = SynthConfig(
        videos=args.videos,
        seconds=args.seconds,
        seed=args.seed,
        fps=Fraction(args.fps),
        width=width,
        height=height,
    )
    video_seconds = sum(base.scene(i).duration for i in range(base.videos))
    work = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    results: dict[str, Any] = {
        "videos": base.videos,
        "seconds_of_video": round(video_seconds, 2),
        "size": args.size,
        "fps": args.fps,
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        wall, cpu = timed(lambda: draw_all(base))
        results["draw_only"] = {
            "realtime_x": video_seconds / wall,
            "cpu_realtime_x": video_seconds / cpu,
        }
        wall, cpu = timed(lambda: generate_dataset(work / "annotations", base, render=False))
        results["annotations_only"] = {"realtime_x": video_seconds / wall}
        for preset in args.presets.split(","):
            config = replace(base, preset=preset)
            wall, cpu = timed(lambda c=config, p=preset: generate_dataset(work / p, c))
            size = sum(f.stat().st_size for f in (work / preset / "videos").iterdir())
            ref_wall, ref_cpu = encode_only(config, work / f"reference-{preset}.mp4")
            results[preset] = {
                "generator_realtime_x": video_seconds / wall,
                "generator_cpu_realtime_x": video_seconds / cpu,
                "encode_only_realtime_x": video_seconds / ref_wall,
                "encode_only_cpu_realtime_x": video_seconds / ref_cpu,
                "megabytes_per_minute": size / 1e6 / video_seconds * 60,
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]

    print(f"{video_seconds:.0f} s of {args.size} video at {args.fps} fps ({base.videos} videos); "
          f"load {results['load_before']} -> {results['load_after']}")  # fmt: skip
    draw = results["draw_only"]
    print(f"  draw only:        {draw['realtime_x']:.1f}x real time "
          f"({draw['cpu_realtime_x']:.1f}x per CPU second)")  # fmt: skip
    print(f"  annotations only: {results['annotations_only']['realtime_x']:.0f}x real time")
    for preset in args.presets.split(","):
        row = results[preset]
        print(
            f"  {preset:<10} generator {row['generator_realtime_x']:.1f}x "
            f"(CPU {row['generator_cpu_realtime_x']:.1f}x), "
            f"reference encode-only {row['encode_only_realtime_x']:.1f}x "
            f"(CPU {row['encode_only_cpu_realtime_x']:.1f}x), "
            f"{row['megabytes_per_minute']:.1f} MB per minute"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
