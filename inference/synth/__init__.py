"""Synthetic AVA-style datasets: rendered people whose actions are known, with AVA annotations.

`python -m inference synth OUTDIR --videos N --seconds S --seed K` writes H.264 videos of 1 to 4
articulated people over textured, panning backgrounds, their ground truth in AVA CSV form, a
label map, excluded timestamps, simulated detector boxes and a JSON manifest (layout in
`inference.synth.dataset`). Library use: `generate_dataset(outdir, videos=2, seconds=6, seed=0)`
returns a `Manifest`. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from inference.synth.actions import ACTIONS, Action
from inference.synth.dataset import (
    DetectorConfig,
    Manifest,
    SynthConfig,
    generate_dataset,
    ground_truth,
    label_map,
    parse_fps,
    parse_size,
)
from inference.synth.render import Renderer, write_video
from inference.synth.scene import Scene
from inference.synth.schedule import make_scene

__all__ = [
    "ACTIONS",
    "Action",
    "DetectorConfig",
    "Manifest",
    "Renderer",
    "Scene",
    "SynthConfig",
    "cli",
    "generate_dataset",
    "ground_truth",
    "label_map",
    "make_scene",
    "write_video",
]


def _people(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        raise argparse.ArgumentTypeError(f"people {text!r} must look like 2 or 1-4")
    return int(low), int(high or low)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inference synth",
        description="Render a synthetic AVA-style dataset: videos, ground truth, person boxes.",
    )
    parser.add_argument("outdir", help="directory to write (created if missing)")
    parser.add_argument("--videos", type=int, default=1, help="number of videos (default 1)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each video")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same dataset")
    parser.add_argument("--fps", default="30", help="frame rate: 30, 25, 29.97, 30000/1001...")
    parser.add_argument("--size", default="640x360", help="WxH, both even (default 640x360)")
    parser.add_argument("--people", type=_people, default=(1, 4), help="per video: 2 or 1-4")
    parser.add_argument("--val-videos", type=int, default=0, help="last N videos form 'val'")
    detector = parser.add_argument_group("simulated person detector")
    detector.add_argument("--recall", type=float, default=0.9, help="share of people found")
    detector.add_argument("--precision", type=float, default=0.9, help="share of boxes correct")
    detector.add_argument("--jitter", type=float, default=0.04, help="box edge noise (of size)")
    look = parser.add_argument_group("look and encoding")
    look.add_argument("--noise", type=float, default=2.0, help="luma noise std (0: none)")
    look.add_argument("--no-occluders", action="store_true", help="no foreground objects")
    look.add_argument("--plain", action="store_true", help="flat background, still camera")
    look.add_argument("--no-video", action="store_true", help="annotations only")
    look.add_argument("--preset", default="ultrafast", help="x264 preset (default ultrafast)")
    look.add_argument("--crf", type=int, default=23, help="x264 quality (default 23)")
    parser.add_argument("--jobs", type=int, default=1, help="videos rendered at once (processes)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")
    return parser


def cli(argv: list[str]) -> int:
    """`python -m inference synth`: generate a dataset; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        width, height = parse_size(args.size)
        config = SynthConfig(
            videos=args.videos,
            seconds=args.seconds,
            seed=args.seed,
            fps=parse_fps(args.fps),
            width=width,
            height=height,
            people=args.people,
            val_videos=args.val_videos,
            noise=args.noise,
            occluders=not args.no_occluders,
            plain=args.plain,
            render=not args.no_video,
            preset=args.preset,
            crf=args.crf,
            detector=DetectorConfig(args.recall, args.precision, args.jitter),
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    shown = [-1]

    def progress(done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent // 10 != shown[0]:
            shown[0] = percent // 10
            print(f"rendering: {percent}% ({done}/{total} frames)", file=sys.stderr)

    started = time.perf_counter()
    try:
        manifest = generate_dataset(args.outdir, config, jobs=args.jobs, progress=progress)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    seconds = sum(video.duration for video in manifest.videos)
    summary = {
        "root": str(manifest.root),
        "manifest": str(manifest.root / "manifest.json"),
        "videos": len(manifest.videos),
        "seconds": round(seconds, 3),
        "elapsed_seconds": round(elapsed, 3),
        "realtime_factor": round(seconds / elapsed, 2) if config.render else None,
        "label_map": str(manifest.label_map),
        "ground_truth": {split: str(path) for split, path in manifest.ground_truth.items()},
        "person_boxes": {split: str(path) for split, path in manifest.person_boxes.items()},
        "excluded": {split: str(path) for split, path in manifest.excluded.items()},
        "detector": manifest.detector,
    }
    print(f"wrote {len(manifest.videos)} videos ({seconds:.1f} s) to {manifest.root} "
          f"in {elapsed:.1f} s")  # fmt: skip
    for split, stats in manifest.detector.items():
        print(
            f"{split}: {stats['people']} person boxes; simulated detector recall "
            f"{stats['recall']:.3f}, precision {stats['precision']:.3f}"
        )
    if args.json:
        print(json.dumps(summary))
    return 0
