"""Our `.pt` checkpoint format, converters from pytorchvideo/PySlowFast files, official downloads.

A checkpoint is one torch-saved plain dict: `config` (SlowFastConfig as a dict of JSON types),
`state_dict`, `label_map` (`LabelMap.records()`: `{"id", "name", "type"}` per output, in order;
`load_checkpoint` gives it back as an `inference.ava.LabelMap`),
`preprocess` (`short_side`, `mean`, `std`), and optionally `metrics` and `training` (the state a
training run resumes from: step, optimizer, RNG, settings).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import re
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from inference.ava import ActionLabel, LabelMap, read_labelmap
from inference.hashing import file_sha256
from inference.models import PRESETS, SlowFast, SlowFastConfig, build_model, preset
from inference.models.slowfast import SLOW_TEMPORAL_KERNELS, STAGE_BLOCKS, STAGE_NAMES

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


def default_label_map(config: SlowFastConfig) -> LabelMap:
    """AVA v2.2's 80 actions for an 80-class detection model, else numbered placeholder classes."""
    if config.head == "detection" and config.num_classes == 80:
        return read_labelmap(AVA_LABEL_MAP_PATH)
    return LabelMap(tuple(ActionLabel(i, f"class_{i}") for i in range(config.num_classes)))


def default_preprocess(config: SlowFastConfig) -> dict[str, Any]:
    """Short side and normalisation the official SlowFast models were trained with."""
    return {"short_side": config.crop_size, "mean": list(DEFAULT_MEAN), "std": list(DEFAULT_STD)}


# --- our format --------------------------------------------------------------------------------


def save_checkpoint(
    path: str | Path,
    model: SlowFast,
    label_map: LabelMap | None = None,
    preprocess: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> None:
    """Write `model` as one of our `.pt` checkpoints (defaults: AVA labels, 0.45/0.225 norm).

    `training` is the state a training run resumes from (optimizer, step, RNG), when given.
    """
    config = model.config
    label_map = default_label_map(config) if label_map is None else label_map
    entries = len(label_map.actions)
    if entries != config.num_classes:
        raise ValueError(
            f"label_map has {entries} entries for a model with {config.num_classes} classes"
        )
    checkpoint: dict[str, Any] = {
        "config": config_to_dict(config),
        # Plain contiguous tensors, so the file does not depend on our memory-format choice.
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "label_map": label_map.records(),
        "preprocess": default_preprocess(config) if preprocess is None else dict(preprocess),
    }
    if metrics is not None:
        checkpoint["metrics"] = dict(metrics)
    if training is not None:
        checkpoint["training"] = dict(training)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    tmp.replace(path)  # readers never see a half-written checkpoint


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The dict of one of our checkpoints, with `config` as a SlowFastConfig and `label_map` as a
    LabelMap."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    missing = [
        k for k in ("config", "state_dict", "label_map", "preprocess") if k not in checkpoint
    ]
    if not isinstance(checkpoint, dict) or missing:
        raise ValueError(f"{path}: not an ava-annotator checkpoint (missing {missing})")
    checkpoint["config"] = config_from_dict(checkpoint["config"])
    checkpoint["label_map"] = LabelMap.from_records(checkpoint["label_map"])
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


# --- converting official checkpoints -----------------------------------------------------------
#
# Each source's key names are first renamed to ours; the architecture is then read from what the
# file records (PySlowFast `cfg`), else from the renamed weights, else from `--preset`, else from
# the source's conventions; finally every key and shape is checked against the built model.

_BN_PARAMS = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_BRANCH2 = {"a": "1", "b": "2", "c": "3"}
_PATHWAY = {"0": "slow", "1": "fast"}
SOURCES = ("pytorchvideo", "pyslowfast")


def _rename_pytorchvideo(key: str) -> str | None:
    """pytorchvideo `create_slowfast`/`create_resnet` (+ RoI head) names -> ours."""
    key = key.removeprefix("model.")  # DetectionBBoxNetwork wraps the backbone as `model`
    if m := re.fullmatch(r"detection_head\.proj\.(weight|bias)", key):
        return f"proj.{m[1]}"
    if m := re.fullmatch(
        r"blocks\.([0-3])\.multipathway_fusion\.(conv_fast_to_slow|norm)\.(.+)", key
    ):
        return f"laterals.{m[1]}.{'conv' if m[2] == 'conv_fast_to_slow' else 'bn'}.{m[3]}"
    if m := re.fullmatch(r"blocks\.(\d+)\.multipathway_blocks\.([01])\.(.+)", key):
        stage, pathway, rest = int(m[1]), _PATHWAY[m[2]], m[3]
    elif m := re.fullmatch(r"blocks\.(\d+)\.(.+)", key):
        stage, pathway, rest = int(m[1]), "slow", m[2]
    else:
        return None
    if m := re.fullmatch(r"proj\.(weight|bias)", rest):
        return f"proj.{m[1]}"
    if stage == 0 and (m := re.fullmatch(r"(conv|norm)\.(.+)", rest)):
        return f"{pathway}.stem.{'conv' if m[1] == 'conv' else 'bn'}.{m[2]}"
    if 1 <= stage <= 4 and (m := re.fullmatch(r"res_blocks\.(\d+)\.(.+)", rest)):
        block = f"{pathway}.res{stage + 1}.blocks.{m[1]}"
        if n := re.fullmatch(r"branch1_(conv|norm)\.(.+)", m[2]):
            return f"{block}.downsample.{0 if n[1] == 'conv' else 1}.{n[2]}"
        if n := re.fullmatch(r"branch2\.(conv|norm)_([abc])\.(.+)", m[2]):
            return f"{block}.{'conv' if n[1] == 'conv' else 'bn'}{_BRANCH2[n[2]]}.{n[3]}"
    return None


def _rename_pyslowfast(key: str) -> str | None:
    """PySlowFast `SlowFast`/`ResNet` state_dict names -> ours."""
    key = key.removeprefix("module.")  # saved from a DataParallel wrapper
    if m := re.fullmatch(r"head\.projection\.(weight|bias)", key):
        return f"proj.{m[1]}"
    if m := re.fullmatch(r"s1\.pathway([01])_stem\.(conv|bn)\.(.+)", key):
        return f"{_PATHWAY[m[1]]}.stem.{m[2]}.{m[3]}"
    if m := re.fullmatch(r"s([1-4])_fuse\.(conv_f2s|bn)\.(.+)", key):
        return f"laterals.{int(m[1]) - 1}.{'conv' if m[2] == 'conv_f2s' else 'bn'}.{m[3]}"
    if m := re.fullmatch(r"s([2-5])\.pathway([01])_res(\d+)\.(.+)", key):
        block = f"{_PATHWAY[m[2]]}.res{m[1]}.blocks.{m[3]}"
        if n := re.fullmatch(r"branch1(_bn)?\.(.+)", m[4]):
            return f"{block}.downsample.{1 if n[1] else 0}.{n[2]}"
        if n := re.fullmatch(r"branch2\.([abc])(_bn)?\.(.+)", m[4]):
            return f"{block}.{'bn' if n[2] else 'conv'}{_BRANCH2[n[1]]}.{n[3]}"
        return None
    if m := re.fullmatch(
        r"s([2-5])\.pathway([01])_nonlocal(\d+)\.(conv_theta|conv_phi|conv_g|conv_out|bn)\.(.+)",
        key,
    ):
        return f"{_PATHWAY[m[2]]}.res{m[1]}.nonlocals.{m[3]}.{m[4].removeprefix('conv_')}.{m[5]}"
    return None


def _rename_caffe2(key: str) -> str | None:
    """PySlowFast Caffe2 model-zoo blob names (`res4_5_branch2a_bn_s`, `t_conv1_w`) -> ours."""
    if m := re.fullmatch(r"pred_([wb])", key):
        return f"proj.{'weight' if m[1] == 'w' else 'bias'}"
    if m := re.fullmatch(r"nonlocal_conv([2-5])_(\d+)_(theta|phi|g|out)_([wb])", key):
        return f"slow.res{m[1]}.nonlocals.{m[2]}.{m[3]}.{'weight' if m[4] == 'w' else 'bias'}"
    if m := re.fullmatch(r"nonlocal_conv([2-5])_(\d+)_bn_(s|b|rm|riv)", key):
        return f"slow.res{m[1]}.nonlocals.{m[2]}.bn.{_BN_PARAMS[m[3]]}"
    # Lateral connections hang off the Fast pathway's pool1 or the last block of res2..res4.
    if m := re.fullmatch(
        r"t_(?:pool1|res([2-4])_\d+_branch2c_bn)_subsample_(w|bn_(s|b|rm|riv))", key
    ):
        lateral = int(m[1]) - 1 if m[1] else 0
        return f"laterals.{lateral}." + ("conv.weight" if m[2] == "w" else f"bn.{_BN_PARAMS[m[3]]}")
    pathway = "fast" if key.startswith("t_") else "slow"
    key = key.removeprefix("t_")
    if key == "conv1_w":
        return f"{pathway}.stem.conv.weight"
    if m := re.fullmatch(r"res_conv1_bn_(s|b|rm|riv)", key):
        return f"{pathway}.stem.bn.{_BN_PARAMS[m[1]]}"
    if m := re.fullmatch(r"res([2-5])_(\d+)_branch(1|2[abc])_(w|bn_(s|b|rm|riv))", key):
        block = f"{pathway}.res{m[1]}.blocks.{m[2]}"
        layer = "downsample.{}" if m[3] == "1" else "{}" + _BRANCH2[m[3][1]]
        if m[4] == "w":
            return f"{block}." + layer.format("0" if m[3] == "1" else "conv") + ".weight"
        return f"{block}." + layer.format("1" if m[3] == "1" else "bn") + f".{_BN_PARAMS[m[5]]}"
    return None


def _is_caffe2_bookkeeping(key: str) -> bool:
    # Solver state stored next to the weights in Caffe2 model-zoo files.
    return key.endswith("_momentum") or key in ("lr", "model_iter")


def _infer_from_weights(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Config fields the (renamed) weights determine."""
    fields: dict[str, Any] = {}
    if "slow.stem.conv.weight" not in state or "proj.weight" not in state:
        raise ValueError("weights lack the Slow stem or the projection layer (not a SlowFast?)")
    fields["pathways"] = 2 if "fast.stem.conv.weight" in state else 1
    if fields["pathways"] == 1:
        fields["alpha"] = 1
    blocks: list[int] = []
    for stage_name in STAGE_NAMES:
        indices = {
            int(m[1]) for k in state if (m := re.match(rf"slow\.{stage_name}\.blocks\.(\d+)\.", k))
        }
        blocks.append(max(indices) + 1 if indices else 0)
    depths = {d: list(b) for d, b in STAGE_BLOCKS.items()}
    depth = next((d for d, b in STAGE_BLOCKS.items() if list(b) == blocks), None)
    if depth is None:
        raise ValueError(f"unsupported blocks per stage {blocks}; expected one of {depths}")
    fields["depth"] = depth
    fields["width"] = state["slow.stem.conv.weight"].shape[0]
    # Leading blocks with a temporal kernel, read where the stage has one (Table 1).
    pathway = "fast" if fields["pathways"] == 2 else "slow"
    with_kernel = []
    for stage, name in enumerate(STAGE_NAMES):
        if pathway == "slow" and SLOW_TEMPORAL_KERNELS[stage] == 1:
            with_kernel.append(blocks[stage])
            continue
        # A missing weight counts as kernel 1 here; the strict key check reports it later.
        keys = [f"{pathway}.{name}.blocks.{i}.conv1.weight" for i in range(blocks[stage])]
        kernels = [state[k].shape[2] if k in state else 1 for k in keys]
        with_kernel.append(next((i for i, k in enumerate(kernels) if k == 1), len(kernels)))
    fields["temporal_kernel_blocks"] = None if with_kernel == blocks else tuple(with_kernel)
    nonlocal_blocks = []
    for name in STAGE_NAMES:
        found = {
            int(m[1]) for k in state if (m := re.match(rf"slow\.{name}\.nonlocals\.(\d+)\.", k))
        }
        nonlocal_blocks.append(tuple(sorted(found)))
    fields["nonlocal_blocks"] = tuple(nonlocal_blocks)
    if fields["pathways"] == 2:
        fields["beta_inv"] = fields["width"] // state["fast.stem.conv.weight"].shape[0]
        if "laterals.0.conv.weight" in state:
            lateral = state["laterals.0.conv.weight"]
            fields["fusion_kernel"] = lateral.shape[2]
            fields["fusion_channel_ratio"] = lateral.shape[0] // lateral.shape[1]
    fields["num_classes"] = state["proj.weight"].shape[0]
    return fields


def _map_state_dict(
    source: dict[str, torch.Tensor], renamed: dict[str, str | None], model: SlowFast
) -> dict[str, torch.Tensor]:
    """Our state_dict from `source`; ValueError listing unexpected, missing and mismatched keys."""
    target = model.state_dict()
    converted: dict[str, torch.Tensor] = {}
    unexpected, mismatched = [], []
    for key, value in source.items():
        new_key = renamed[key]
        if new_key is None or new_key not in target or new_key in converted:
            unexpected.append(key if new_key is None else f"{key} (as {new_key})")
            continue
        expected = target[new_key].shape
        if value.dim() < len(expected) and value.numel() == expected.numel():
            value = value.reshape(expected)  # Caffe2 stores some conv/fc weights with fewer dims
        if value.shape != expected:
            mismatched.append(f"{key} {tuple(value.shape)} -> {new_key} {tuple(expected)}")
            continue
        converted[new_key] = value.to(target[new_key].dtype)
    # num_batches_tracked only counts training steps; Caffe2 files have none.
    missing = [k for k in target if k not in converted and not k.endswith("num_batches_tracked")]
    if unexpected or missing or mismatched:
        parts = []
        for title, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape mismatch", mismatched),
        ):
            if keys:
                shown = ", ".join(keys[:20]) + (
                    f", ... ({len(keys)} in all)" if len(keys) > 20 else ""
                )
                parts.append(f"{title}: {shown}")
        raise ValueError("checkpoint does not fit the model; " + "; ".join(parts))
    for key in target:
        converted.setdefault(key, torch.zeros_like(target[key]))
    return converted


def _cfg_value(cfg: dict[str, Any], path: str, default: Any) -> Any:
    node: Any = cfg
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _config_from_pyslowfast_cfg(cfg: dict[str, Any]) -> tuple[SlowFastConfig, dict[str, Any]]:
    """Config and preprocess from a PySlowFast cfg (defaults as in PySlowFast's defaults.py)."""

    def get(path: str, default: Any) -> Any:
        return _cfg_value(cfg, path, default)

    arch = get("MODEL.ARCH", "slowfast")
    if arch not in ("slowfast", "slow"):
        raise ValueError(f"unsupported PySlowFast MODEL.ARCH {arch!r}; expected slowfast or slow")
    for path, default, wanted in (
        ("RESNET.NUM_GROUPS", 1, 1),
        ("RESNET.TRANS_FUNC", "bottleneck_transform", "bottleneck_transform"),
        ("RESNET.STRIDE_1X1", False, False),
    ):
        if get(path, default) != wanted:
            raise ValueError(f"unsupported PySlowFast {path} {get(path, default)!r}")
    pathways = 2 if arch == "slowfast" else 1
    alpha = int(get("SLOWFAST.ALPHA", 8)) if pathways == 2 else 1
    depth = int(get("RESNET.DEPTH", 50))
    if depth not in STAGE_BLOCKS:
        raise ValueError(f"unsupported PySlowFast RESNET.DEPTH {depth}")
    t2, t3, t4, t5 = (
        int(stage[0]) for stage in get("RESNET.NUM_BLOCK_TEMP_KERNEL", [[3], [4], [6], [3]])
    )
    temporal = (t2, t3, t4, t5)
    dilations = [stage[0] for stage in get("RESNET.SPATIAL_DILATIONS", [[1], [1], [1], [1]])]
    strides = [stage[0] for stage in get("RESNET.SPATIAL_STRIDES", [[1], [2], [2], [2]])]
    if dilations[:3] != [1, 1, 1] or strides[:3] != [1, 2, 2] or strides[3] * dilations[3] != 2:
        raise ValueError(f"unsupported PySlowFast strides {strides} / dilations {dilations}")
    locations = get("NONLOCAL.LOCATION", [[[]], [[]], [[]], [[]]])
    if any(len(stage) > 1 and stage[1] for stage in locations):
        raise ValueError("unsupported PySlowFast non-local blocks in the Fast pathway")
    nonlocal_blocks = tuple(tuple(int(i) for i in stage[0]) for stage in locations)
    pool = [1, 2, 2]
    if any(nonlocal_blocks):
        instantiation = get("NONLOCAL.INSTANTIATION", "dot_product")
        if instantiation != "dot_product":
            raise ValueError(f"unsupported PySlowFast NONLOCAL.INSTANTIATION {instantiation!r}")
        groups = get("NONLOCAL.GROUP", [[1]] * 4)
        if any(g != 1 for stage in groups for g in stage):
            raise ValueError(f"unsupported PySlowFast NONLOCAL.GROUP {groups}")
        stage = next(s for s, blocks in enumerate(nonlocal_blocks) if blocks)
        pool = get("NONLOCAL.POOL", [[[1, 2, 2]]] * 4)[stage][0]
    detection = bool(get("DETECTION.ENABLE", False))
    if detection and int(get("DETECTION.SPATIAL_SCALE_FACTOR", 16)) != 32 // dilations[3]:
        raise ValueError(
            f"unsupported PySlowFast DETECTION.SPATIAL_SCALE_FACTOR "
            f"{get('DETECTION.SPATIAL_SCALE_FACTOR', 16)} with res5 dilation {dilations[3]}"
        )
    frames = int(get("DATA.NUM_FRAMES", 8))  # Fast frames for SlowFast, Slow frames for Slow
    config = SlowFastConfig(
        depth=depth,
        pathways=pathways,
        alpha=alpha,
        beta_inv=int(get("SLOWFAST.BETA_INV", 8)) if pathways == 2 else 8,
        tau=int(get("DATA.SAMPLING_RATE", 8)) * alpha,
        num_frames=frames // alpha,
        fusion_kernel=int(get("SLOWFAST.FUSION_KERNEL_SZ", 5)),
        fusion_channel_ratio=int(get("SLOWFAST.FUSION_CONV_CHANNEL_RATIO", 2)),
        width=int(get("RESNET.WIDTH_PER_GROUP", 64)),
        temporal_kernel_blocks=None if temporal == STAGE_BLOCKS[depth] else temporal,
        nonlocal_blocks=nonlocal_blocks,
        nonlocal_pool=(int(pool[0]), int(pool[1]), int(pool[2])),
        head="detection" if detection else "classification",
        num_classes=int(get("MODEL.NUM_CLASSES", 400)),
        dropout=float(get("MODEL.DROPOUT_RATE", 0.5)),
        res5_dilation=int(dilations[3]),
        roi_output=int(get("DETECTION.ROI_XFORM_RESOLUTION", 7)),
        aligned=bool(get("DETECTION.ALIGNED", True)),
        crop_size=int(get("DATA.TEST_CROP_SIZE", 256)),
    )
    preprocess = {
        "short_side": config.crop_size,
        "mean": [float(v) for v in get("DATA.MEAN", DEFAULT_MEAN)],
        "std": [float(v) for v in get("DATA.STD", DEFAULT_STD)],
    }
    return config, preprocess


def _source_defaults(fields: dict[str, Any], detection: bool | None) -> SlowFastConfig:
    """The source's conventions for what no weight records (alpha, tau, T, head geometry)."""
    slow_only = fields["pathways"] == 1
    if detection is None:
        # Caffe2 files do not say which head they had: AVA models have 80 actions.
        detection = fields["num_classes"] == 80
    if slow_only:
        # pytorchvideo's slow_r50 is 8x8, its slow_r50_detection 4x16 (PySlowFast's AVA Slow too).
        name = "slow_r50_4x16_ava" if detection else "slow_r50_8x8"
    else:
        name = "slowfast_r50_8x8_ava" if detection else "slowfast_r50_8x8"
    return PRESETS[name]


def _load_source(path: Path) -> tuple[dict[str, Any], str]:
    """The file's contents and kind: "torch" (torch-saved dict) or "caffe2" (pickled blobs)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True), "torch"
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError) as error:
        torch_error = error
    try:
        with path.open("rb") as f:
            contents = _Caffe2Unpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise ValueError(
            f"{path}: neither a torch file ({torch_error}) nor a pickle ({error})"
        ) from error
    if not isinstance(contents, dict) or "blobs" not in contents:
        raise ValueError(f"{path}: a pickle without Caffe2 'blobs'")
    return contents, "caffe2"


class _Caffe2Unpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers only, so a model file cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
        ("_codecs", "encode"),  # how Python 3 pickles bytes at protocol 2
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return super().find_class(module, name)


def convert(
    source: str, path: str | Path, preset_name: str | None = None
) -> tuple[SlowFast, LabelMap, dict[str, Any]]:
    """Model (eval mode), label map and preprocess from a pytorchvideo or PySlowFast file."""
    if source not in SOURCES:
        raise ValueError(f"unsupported source {source!r}; expected one of {SOURCES}")
    path = Path(path)
    contents, kind = _load_source(path)
    recorded: SlowFastConfig | None = None
    preprocess: dict[str, Any] | None = None
    detection: bool | None = None
    if kind == "caffe2":
        if source != "pyslowfast":
            raise ValueError(f"{path}: a Caffe2 file; convert it with --from pyslowfast")
        weights = {
            k: torch.as_tensor(v)
            for k, v in contents["blobs"].items()
            if not _is_caffe2_bookkeeping(k)
        }
        rename = _rename_caffe2
    else:
        if not isinstance(contents, dict):
            raise ValueError(f"{path}: expected a dict, got {type(contents).__name__}")
        weights = contents.get("model_state", contents)
        if not all(isinstance(v, torch.Tensor) for v in weights.values()):
            raise ValueError(f"{path}: no state dict ('model_state') found")
        if source == "pytorchvideo":
            rename = _rename_pytorchvideo
            detection = any(k.startswith("detection_head.") for k in weights)
        else:
            rename = _rename_pyslowfast
            cfg = contents.get("cfg")
            if isinstance(cfg, str):
                cfg = yaml.safe_load(cfg)
            if isinstance(cfg, dict):
                recorded, preprocess = _config_from_pyslowfast_cfg(cfg)
    renamed = {k: rename(k) for k in weights}
    if recorded is not None:
        config = recorded
    else:
        by_name = {new: weights[old] for old, new in renamed.items() if new is not None}
        fields = _infer_from_weights(by_name)
        if preset_name is not None:
            base = preset(preset_name)
            if detection is not None and (base.head == "detection") != detection:
                base = _source_defaults(fields, detection)
        else:
            base = _source_defaults(fields, detection)
        config = dataclasses.replace(base, **fields)
    model = build_model(config)
    model.load_state_dict(_map_state_dict(weights, renamed, model))
    label_map = default_label_map(config)
    return model.eval(), label_map, preprocess or default_preprocess(config)


def convert_cli(argv: list[str]) -> int:
    """`python -m inference convert --from pytorchvideo|pyslowfast IN OUT [--preset NAME]`."""
    parser = argparse.ArgumentParser(
        prog="python -m inference convert",
        description="Convert a pytorchvideo hub or PySlowFast (.pyth, Caffe2 .pkl) checkpoint.",
    )
    parser.add_argument("--from", dest="source", required=True, choices=SOURCES)
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="fills what the file does not record (alpha, tau, frames, head geometry); "
        "PySlowFast .pyth files carry their cfg, which wins",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(argv)
    try:
        model, label_map, preprocess = convert(args.source, args.input, args.preset)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    save_checkpoint(args.output, model, label_map=label_map, preprocess=preprocess)
    summary = {"checkpoint": str(args.output), "config": config_to_dict(model.config)}
    print(json.dumps(summary) if args.json else f"wrote {args.output}: {model.config}")
    return 0


# --- official checkpoints ----------------------------------------------------------------------


@dataclass(frozen=True)
class Pretrained:
    """An official checkpoint: where it is, how to read it, what no weight records."""

    url: str
    source: str
    preset: str
    # Publisher checksum; neither model zoo publishes one, so the first download's sha256 is
    # recorded in the cache and later downloads must match it.
    sha256: str | None = None


_PYTORCHVIDEO_ZOO = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo"
_PYSLOWFAST_ZOO = "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo"
PRETRAINED: dict[str, Pretrained] = {
    # pytorchvideo hub (torch.hub names).
    "slowfast_r50": Pretrained(
        f"{_PYTORCHVIDEO_ZOO}/kinetics/SLOWFAST_8x8_R50.pyth", "pytorchvideo", "slowfast_r50_8x8"
    ),
    "slowfast_r101": Pretrained(
        f"{_PYTORCHVIDEO_ZOO}/kinetics/SLOWFAST_8x8_R101.pyth", "pytorchvideo", "slowfast_r101_8x8"
    ),
    "slow_r50": Pretrained(
        f"{_PYTORCHVIDEO_ZOO}/kinetics/SLOW_8x8_R50.pyth", "pytorchvideo", "slow_r50_8x8"
    ),
    "slowfast_r50_detection": Pretrained(
        f"{_PYTORCHVIDEO_ZOO}/ava/SLOWFAST_8x8_R50_DETECTION.pyth",
        "pytorchvideo",
        "slowfast_r50_8x8_ava",
    ),
    "slow_r50_detection": Pretrained(
        f"{_PYTORCHVIDEO_ZOO}/ava/SLOW_4x16_R50_DETECTION.pyth", "pytorchvideo", "slow_r50_4x16_ava"
    ),
    # PySlowFast model zoo (MODEL_ZOO.md); AVA v2.2 29.1 mAP and v2.1 28.2 mAP.
    "SLOWFAST_32x2_R101_50_50": Pretrained(
        f"{_PYSLOWFAST_ZOO}/ava/SLOWFAST_32x2_R101_50_50.pkl",
        "pyslowfast",
        "slowfast_r101_nl_8x8_ava",
    ),
    "SLOWFAST_32x2_R101_50_50_v2.1": Pretrained(
        f"{_PYSLOWFAST_ZOO}/ava/SLOWFAST_32x2_R101_50_50_v2.1.pkl",
        "pyslowfast",
        "slowfast_r101_nl_8x8_ava",
    ),
    "SLOWFAST_4x16_R50": Pretrained(
        f"{_PYSLOWFAST_ZOO}/kinetics400/SLOWFAST_4x16_R50.pkl", "pyslowfast", "slowfast_r50_4x16"
    ),
    "SLOWFAST_8x8_R50": Pretrained(
        f"{_PYSLOWFAST_ZOO}/kinetics400/SLOWFAST_8x8_R50.pkl", "pyslowfast", "slowfast_r50_8x8"
    ),
    "SLOWONLY_4x16_R50": Pretrained(
        f"{_PYSLOWFAST_ZOO}/kinetics400/SLOWONLY_4x16_R50.pkl", "pyslowfast", "slow_r50_4x16"
    ),
    "SLOWONLY_8x8_R50": Pretrained(
        f"{_PYSLOWFAST_ZOO}/kinetics400/SLOWONLY_8x8_R50.pkl", "pyslowfast", "slow_r50_8x8"
    ),
}


def default_cache_dir() -> Path:
    """$AVA_CACHE, else ~/.cache/ava-annotator."""
    return Path(os.environ.get("AVA_CACHE") or Path.home() / ".cache" / "ava-annotator")


def _download(url: str, path: Path, progress: Callable[[str], None]) -> None:
    partial = path.with_name(path.name + ".part")
    progress(f"downloading {url}")
    with urllib.request.urlopen(url) as response, partial.open("wb") as f:
        total = int(response.headers.get("Content-Length") or 0)
        done, reported = 0, 0
        for chunk in iter(lambda: response.read(1 << 20), b""):
            f.write(chunk)
            done += len(chunk)
            if total and done * 10 // total > reported:
                reported = done * 10 // total
                progress(f"{path.name}: {reported * 10}%")
    partial.replace(path)  # an interrupted download never looks complete


def fetch_pretrained(
    name: str,
    cache_dir: Path | None = None,
    url: str | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> Path:
    """Download (once), verify and convert official checkpoint `name`; path of our `.pt`."""
    if name not in PRETRAINED:
        raise ValueError(
            f"unknown pretrained checkpoint {name!r}; expected one of {sorted(PRETRAINED)}"
        )
    entry = PRETRAINED[name]
    url = url or entry.url
    cache_dir = cache_dir or default_cache_dir()
    downloads = cache_dir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    download = downloads / f"{name}{Path(urllib.parse.urlparse(url).path).suffix}"
    if not download.exists():
        _download(url, download, progress)
    digest = file_sha256(download)
    checksums_path = cache_dir / "checksums.json"
    checksums = json.loads(checksums_path.read_text()) if checksums_path.exists() else {}
    expected = entry.sha256 or checksums.get(name, {}).get("sha256")
    if expected is not None and digest != expected:
        raise ValueError(f"{download}: sha256 {digest} does not match the expected {expected}")
    if entry.sha256 is None and name not in checksums:
        checksums[name] = {"url": url, "sha256": digest}
        checksums_path.write_text(json.dumps(checksums, indent=2, sort_keys=True) + "\n")
    model, label_map, preprocess = convert(entry.source, download, entry.preset)
    output = cache_dir / f"{name}.pt"
    save_checkpoint(output, model, label_map=label_map, preprocess=preprocess)
    return output


def fetch_cli(argv: list[str]) -> int:
    """`python -m inference fetch-pretrained NAME [--cache DIR] [--url URL] [--json]`."""
    parser = argparse.ArgumentParser(
        prog="python -m inference fetch-pretrained",
        description="Download, verify and convert an official SlowFast checkpoint.",
    )
    parser.add_argument("name", choices=sorted(PRETRAINED))
    parser.add_argument(
        "--cache", type=Path, help="cache folder (default $AVA_CACHE or ~/.cache/ava-annotator)"
    )
    parser.add_argument("--url", help="fetch from this URL instead (a mirror, or file:// in tests)")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(argv)
    try:
        output = fetch_pretrained(
            args.name, args.cache, args.url, progress=lambda m: print(m, file=sys.stderr)
        )
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"checkpoint": str(output)}) if args.json else output)
    return 0
