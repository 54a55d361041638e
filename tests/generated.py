"""Generated test videos whose frames show their own index, and helpers to read it back."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

COLUMNS, ROWS = 4, 3  # 12 bits: frame k shows bit b of k as a white block


def write_index_video(
    path: Path,
    fps: Fraction | int,
    count: int,
    *,
    size: tuple[int, int] = (192, 144),
    pts: list[int] | None = None,
) -> Path:
    """An H.264 video whose frame k shows k in binary blocks; `pts` (in 1/30000 s) makes it VFR."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, 30000)
        for index in range(count):
            image = np.zeros((height, width, 3), np.uint8)
            for bit in range(COLUMNS * ROWS):
                if index >> bit & 1:
                    row, column = divmod(bit, COLUMNS)
                    y, x = row * height // ROWS, column * width // COLUMNS
                    image[y : (row + 1) * height // ROWS, x : (column + 1) * width // COLUMNS] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[index], Fraction(1, 30000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def read_index(image: np.ndarray) -> int:
    """The index an RGB image (any size) of a `write_index_video` frame shows."""
    height, width = image.shape[:2]
    index = 0
    for bit in range(COLUMNS * ROWS):
        row, column = divmod(bit, COLUMNS)
        y, x = int((row + 0.5) * height / ROWS), int((column + 0.5) * width / COLUMNS)
        if image[y, x].mean() > 128:
            index |= 1 << bit
    return index


def frame_times(path: Path) -> list[Fraction]:
    """Presentation times of every frame, from the file's own timestamps (first frame at 0)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = sorted(frame.pts for frame in container.decode(stream))
        return [Fraction(value - pts[0]) * stream.time_base for value in pts]


def shown_at(times: list[Fraction], t: Fraction) -> int:
    """The clip rule stated directly: the last frame shown at or before t, edge frames outside."""
    shown = [k for k, time in enumerate(times) if time <= t]
    return shown[-1] if shown else 0


def decoded_indices(path: Path) -> list[int]:
    """The index every frame of a video (e.g. a context clip) shows, in order."""
    with av.open(str(path)) as container:
        return [read_index(frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)]


def small_checkpoint(path: Path, seed: int = 0, **changes: object) -> Path:
    """A randomly initialised `small` preset checkpoint (AVA's 80 actions); `changes` edit its
    config."""
    import dataclasses

    import torch

    from inference.checkpoints import save_checkpoint
    from inference.models import build_model, preset

    torch.manual_seed(seed)
    save_checkpoint(path, build_model(dataclasses.replace(preset("small"), **changes)))
    return path


def ingested_index_video(dataset: Any, directory: Path, seconds: int) -> Any:
    """A 30 fps index video of `seconds` as the dataset's video "index", ingested in this process
    (keyframes at 1 .. seconds - 1)."""
    from django.core.files import File

    from annotator.models import Video
    from annotator.services.ingest import video_ingest

    path = write_index_video(directory / "index.mp4", 30, 30 * seconds)
    video = Video(dataset=dataset, video_id="index")
    with path.open("rb") as handle:
        video.file.save(path.name, File(handle), save=True)
    video_ingest(video_id=video.pk)
    video.refresh_from_db()
    return video


LIGHT_DETECTOR = "fasterrcnn_mobilenet_v3_large_320_fpn"  # the fastest torchvision detector


def detector_weights(path: Path, arch: str, seed: int = 0) -> Path:
    """Randomly initialised COCO Faster R-CNN weights. Random heads rank the person class below
    others, so its logit is raised: at threshold 0 the detector then reports people."""
    import torch
    from torchvision.models.detection import faster_rcnn

    torch.manual_seed(seed)
    model = getattr(faster_rcnn, arch)(weights=None, weights_backbone=None, num_classes=91)
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[1] += 5.0
    torch.save(model.state_dict(), path)
    return path
