"""Frames written per second by `inference.bundle.write_bundle` (issue 16).

A generated 1280x720 30 fps H.264 video of SECONDS seconds is bundled at short side 360 with one
JPEG-writing thread (workers=0) and with worker processes; the reference in the same run is the
decode-and-resize pass alone (`iter_frames` + `to_rgb`), the rate no writer can beat.
Usage: .venv/bin/python bench/bundle_frames.py [SECONDS] [WORKERS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference.ava import LabelMap
from inference.bundle import BundleKeyframe, BundleSpec, BundleVideo, write_bundle
from inference.video import iter_frames, probe, resized_size, to_rgb


def generated_video(path: Path, seconds: int) -> Path:
    """Moving gradients, so that the encoder and the JPEGs see changing content."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        ramp = np.linspace(0, 255, 1280, dtype=np.float32)
        for index in range(30 * seconds):
            row = ((ramp + 4 * index) % 256).astype(np.uint8)
            image = np.broadcast_to(row[None, :, None], (720, 1280, 3)).copy()
            image[:, :, 1] = (index * 3) % 256
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        path = generated_video(root / "video.mp4", seconds)
        info = probe(path)
        size = resized_size(info.width, info.height, 360)
        start = time.perf_counter()
        count = sum(1 for frame in iter_frames(path) if to_rgb(frame, size) is not None)
        decode = count / (time.perf_counter() - start)
        print(f"reference, decode + resize only: {decode:,.0f} frames/s ({count} frames)")
        video = BundleVideo(
            "video", str(path), 0.0, (1, seconds - 1), "train", (BundleKeyframe(1),)
        )
        spec = BundleSpec((video,), LabelMap(actions=()), LabelMap(actions=()), 360)
        for label, count_workers in (("1 writer thread", 0), (f"{workers} processes", workers)):
            out = root / f"bundle-{count_workers}"
            start = time.perf_counter()
            summary = write_bundle(out, spec, workers=count_workers)
            rate = summary.frames_written / (time.perf_counter() - start)
            print(f"write_bundle, {label}: {rate:,.0f} frames/s ({summary.frames_written} frames)")
        start = time.perf_counter()
        summary = write_bundle(root / f"bundle-{workers}", spec, workers=workers)
        print(
            f"second export, frames reused: {summary.frames_reused} in "
            f"{time.perf_counter() - start:.2f} s"
        )


if __name__ == "__main__":
    main()
