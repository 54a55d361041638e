"""Our `.pt` checkpoint format, converters from pytorchvideo/PySlowFast files, official downloads.

A checkpoint is one torch-saved plain dict: `config` (SlowFastConfig as a dict of JSON types),
`state_dict`, `label_map` (list of `{"id", "name", "type"}`, one per output in order),
`preprocess` (`short_side`, `mean`, `std`), and optionally `metrics`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import torch

from inference.models import SlowFast, SlowFastConfig, build_model

DEFAULT_MEAN = [0.45, 0.45, 0.45]
DEFAULT_STD = [0.225, 0.225, 0.225]
AVA_LABEL_MAP_PATH = Path(__file__).parent / "data" / "ava_action_list_v2.2.pbtxt"


# --- config and label map ----------------------------------------------------------------------


def config_to_dict(config: SlowFastConfig) -> dict[str, Any]:
    """`config` as a dict of JSON types (tuples become lists)."""

    def plain(value: Any) -> Any:
        return [plain(v) for v in value] if isinstance(value, tuple | list) else value

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def config_from_dict(values: dict[str, Any]) -> SlowFastConfig:
    """The SlowFastConfig a `config_to_dict` dict describes; unknown fields raise ValueError."""
    names = {f.name for f in dataclasses.fields(SlowFastConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown config fields {unknown}")

    def frozen(value: Any) -> Any:
        return tuple(frozen(v) for v in value) if isinstance(value, list | tuple) else value

    return SlowFastConfig(**{k: frozen(v) for k, v in values.items()})


def read_label_map(path: str | Path) -> list[dict[str, Any]]:
    """Actions of a `label { name label_id label_type }` pbtxt, in file order."""
    text = Path(path).read_text()
    labels = []
    for match in re.finditer(r"label\s*\{(.*?)\}", text, re.S):
        body = match.group(1)
        name = re.search(r'name:\s*"(.*?)"', body)
        label_id = re.search(r"label_id:\s*(\d+)", body)
        label_type = re.search(r"label_type:\s*(\w+)", body)
        if name is None or label_id is None:
            line = text.count("\n", 0, match.start()) + 1
            raise ValueError(f"{path}:{line}: label without name or label_id")
        labels.append(
            {
                "id": int(label_id.group(1)),
                "name": name.group(1),
                "type": label_type.group(1) if label_type else "OTHER",
            }
        )
    return labels


def default_label_map(config: SlowFastConfig) -> list[dict[str, Any]]:
    """AVA v2.2's 80 actions for an 80-class detection model, else numbered placeholder classes."""
    if config.head == "detection" and config.num_classes == 80:
        return read_label_map(AVA_LABEL_MAP_PATH)
    return [{"id": i, "name": f"class_{i}", "type": "OTHER"} for i in range(config.num_classes)]


def default_preprocess(config: SlowFastConfig) -> dict[str, Any]:
    """Short side and normalisation the official SlowFast models were trained with."""
    return {"short_side": config.crop_size, "mean": list(DEFAULT_MEAN), "std": list(DEFAULT_STD)}


# --- our format --------------------------------------------------------------------------------


def save_checkpoint(
    path: str | Path,
    model: SlowFast,
    label_map: list[dict[str, Any]] | None = None,
    preprocess: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> None:
    """Write `model` as one of our `.pt` checkpoints (defaults: AVA labels, 0.45/0.225 norm)."""
    config = model.config
    label_map = default_label_map(config) if label_map is None else label_map
    if len(label_map) != config.num_classes:
        raise ValueError(
            f"label_map has {len(label_map)} entries for a model with {config.num_classes} classes"
        )
    checkpoint: dict[str, Any] = {
        "config": config_to_dict(config),
        # Plain contiguous tensors, so the file does not depend on our memory-format choice.
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "label_map": [dict(label) for label in label_map],
        "preprocess": default_preprocess(config) if preprocess is None else dict(preprocess),
    }
    if metrics is not None:
        checkpoint["metrics"] = dict(metrics)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    tmp.replace(path)  # readers never see a half-written checkpoint


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The dict of one of our checkpoints, with `config` as a SlowFastConfig."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    missing = [
        k for k in ("config", "state_dict", "label_map", "preprocess") if k not in checkpoint
    ]
    if not isinstance(checkpoint, dict) or missing:
        raise ValueError(f"{path}: not an ava-annotator checkpoint (missing {missing})")
    checkpoint["config"] = config_from_dict(checkpoint["config"])
    return checkpoint


def load_model(path: str | Path, device: str | torch.device = "cpu") -> SlowFast:
    """Build the model of one of our checkpoints in eval mode on `device`.

    The model also carries the checkpoint's `label_map` and `preprocess` as attributes.
    """
    checkpoint = load_checkpoint(path)
    model = build_model(checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"])
    model.label_map = checkpoint["label_map"]
    model.preprocess = checkpoint["preprocess"]
    return model.eval().to(device)
