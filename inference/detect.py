"""Person boxes from a torchvision Faster R-CNN trained on COCO (class 1 is "person").

Weights never come from the network: a local state-dict file, or torchvision's own cache holding
the official one. Without either, `detector_weights_path` says where to put the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inference.boxes import clip_normalised

if TYPE_CHECKING:
    import torch
    from PIL import Image

COCO_PERSON = 1
COCO_CLASSES = 91
# torchvision builders and their official COCO weights: the cache file is the URL's last part.
# The R50-FPN one is PySlowFast's choice; the MobileNet one is a light option for CPU workers.
DETECTORS = {
    "fasterrcnn_resnet50_fpn": "FasterRCNN_ResNet50_FPN_Weights",
    "fasterrcnn_resnet50_fpn_v2": "FasterRCNN_ResNet50_FPN_V2_Weights",
    "fasterrcnn_mobilenet_v3_large_320_fpn": "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights",
}
# Room for a crowd when the threshold is low; torchvision's default keeps 100 boxes of all classes.
MAX_DETECTIONS = 300


def detector_weights_path(arch: str, configured: str | None = None) -> Path:
    """The detector's weights file: `configured` if given, else torchvision's cached official
    file; `ValueError` saying where to put it when there is none."""
    import torch
    from torchvision.models.detection import faster_rcnn

    if arch not in DETECTORS:
        raise ValueError(f"PERSON_DETECTOR_ARCH = {arch!r}: expected one of {sorted(DETECTORS)}")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ValueError(
                f"person detector weights not found at PERSON_DETECTOR_WEIGHTS={configured}"
            )
        return path
    url = getattr(faster_rcnn, DETECTORS[arch]).COCO_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if not cached.is_file():
        raise ValueError(
            f"no person detector weights: download {url} and either put it at {cached} "
            "(torchvision's cache) or set PERSON_DETECTOR_WEIGHTS to its path"
        )
    return cached


def load_detector(
    arch: str, path: str | Path, *, device: str, min_size: int | None = None
) -> torch.nn.Module:
    """Faster R-CNN `arch` with the weights at `path`, in eval mode on `device`; `min_size`
    overrides the builder's input size (800; 320 for MobileNet)."""
    import torch
    from torchvision.models.detection import faster_rcnn

    if arch not in DETECTORS:
        raise ValueError(f"PERSON_DETECTOR_ARCH = {arch!r}: expected one of {sorted(DETECTORS)}")
    builder = getattr(faster_rcnn, arch)
    options: dict[str, Any] = {}
    if min_size:
        options["min_size"] = min_size
        options["max_size"] = round(min_size * 1333 / 800)
    model = builder(
        weights=None,
        weights_backbone=None,
        num_classes=COCO_CLASSES,
        # Classes are filtered afterwards; the person threshold is applied by `detect_people`.
        box_score_thresh=0.0,
        box_detections_per_img=MAX_DETECTIONS,
        **options,
    )
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state_dict)
    except (RuntimeError, OSError, ValueError) as error:
        raise ValueError(f"{path}: not {arch} COCO weights ({error})") from error
    return model.eval().to(device)


def detect_people(
    model: torch.nn.Module, images: Sequence[Image.Image], threshold: float, max_boxes: int
) -> list[np.ndarray]:
    """Per image, (N, 5) float32 person boxes x1 y1 x2 y2 normalised to [0, 1] and their scores,
    best first, at most `max_boxes`."""
    import torch
    from torchvision.transforms.functional import pil_to_tensor

    device = next(model.parameters()).device
    tensors = [pil_to_tensor(image.convert("RGB")).to(device).float() / 255 for image in images]
    with torch.inference_mode():
        outputs: list[dict[str, Any]] = model(tensors)
    found = []
    for image, output in zip(images, outputs, strict=True):
        keep = (output["labels"] == COCO_PERSON) & (output["scores"] >= threshold)
        pixels = output["boxes"][keep].float().cpu().numpy()
        scores = output["scores"][keep].float().cpu().numpy()
        width, height = image.size
        boxes, valid = clip_normalised(pixels, width, height)
        people = np.concatenate([boxes[valid], scores[valid, None]], axis=1)
        order = np.argsort(-people[:, 4], kind="stable")[:max_boxes]
        found.append(people[order])
    return found
