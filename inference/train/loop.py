"""The training loop: start model, schedule, steps, checkpoints, resume, validation, DDP.

Read `train` top to bottom: it builds the samples, the start model (a preset, one of our
checkpoints, or the run's own last checkpoint when resuming), then runs epochs of steps
(SGD with momentum, linear warm-up then cosine decay, BCE-with-logits per box) and writes a
checkpoint after every epoch (and every `checkpoint_every` steps). Everything random is a function
of the seed: the sample order of an epoch (`data.epoch_order`), each clip's augmentation, the
dropout masks (torch's generator, saved in the checkpoint), so a resumed run reaches the weights
of an uninterrupted one. Under `torchrun` each process takes its share of every global batch.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from inference import ava, predict
from inference.checkpoints import (
    default_preprocess,
    load_checkpoint,
    save_checkpoint,
)
from inference.evaluation import EvaluationResult, evaluate_frame_ap
from inference.models import SlowFast, build_model, preset
from inference.models.presets import PRESETS
from inference.train import data
from inference.video import Seconds

FREEZE = ("none", "bn", "backbone")
HEAD_PREFIX = "proj."


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run; `batch_size` is the global batch over all processes."""

    epochs: int = 8
    # Small batches: on small datasets the number of steps, not the batch, limits what 8 epochs
    # learn (bench/README, issue 12: batch 2 beat 4 and 8 on 24 held-out videos).
    batch_size: int = 2
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    freeze: str = "none"  # "bn": BatchNorm statistics frozen; "backbone": only the head trains
    seed: int = 0
    time_offset: float = 0.0
    workers: int = 2
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints; 0: after each epoch only
    val_batch_size: int = 8

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs {self.epochs} must be >= 0")
        if self.batch_size < 1:
            raise ValueError(f"batch_size {self.batch_size} must be >= 1")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"lr {self.lr} must be a positive number")
        if self.freeze not in FREEZE:
            raise ValueError(f"freeze {self.freeze!r} must be one of {FREEZE}")
        if self.workers < 0 or self.checkpoint_every < 0 or self.warmup_epochs < 0:
            raise ValueError(
                f"workers {self.workers}, checkpoint_every {self.checkpoint_every} and "
                f"warmup_epochs {self.warmup_epochs} must be >= 0"
            )


@dataclass(frozen=True)
class TrainProgress:
    """What the progress callback gets after every step."""

    epoch: int  # 1-based
    epochs: int
    step: int  # global step, 1-based
    steps: int
    loss: float
    lr: float
    samples_per_s: float
    eta_s: float


@dataclass(frozen=True)
class TrainResult:
    """Where the checkpoint went and how training went."""

    checkpoint: Path
    epochs: int
    steps: int
    val_map: float | None
    val_map_initial: float | None
    samples_per_s: float
    data_wait_share: float
    resumed_from_step: int
    losses: list[float]  # mean loss per epoch


class LossNotFinite(ValueError):
    """The loss became NaN or infinite: training stops there."""


# --- device, distributed, model -----------------------------------------------------------------


def native_bf16(device: torch.device) -> bool:
    """Whether `device` runs bf16 in hardware (CUDA compute >= 8.0, or a CPU with AVX512-BF16/AMX).

    Emulated bf16 is tens of times slower than float32 on CPUs without bf16 units, so autocast is
    used only where this is true.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def _world() -> tuple[int, int]:
    """(rank, world size): (0, 1) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def start_model(
    base: str,
    label_map: ava.LabelMap,
    seed: int,
    head_bias: np.ndarray | None = None,
) -> tuple[SlowFast, dict[str, Any]]:
    """The model training starts from, and its preprocessing.

    `base` is a preset name (random init from `seed`) or one of our checkpoints. A base whose label
    map differs gets a new head for `label_map`; every other weight carries over unchanged. A new
    head's bias is `head_bias` (one value per action) when given, else zero.
    """
    torch.manual_seed(seed)
    if base in PRESETS:
        config = preset(base)
        if config.head != "detection":
            raise ValueError(f"base preset {base!r} has no detection head; use an *_ava preset")
        model = build_model(replace(config, num_classes=len(label_map.actions)))
        _set_head_bias(model, head_bias)
        return model, default_preprocess(model.config)
    if not Path(base).is_file():
        raise ValueError(f"base {base!r} is neither a preset ({sorted(PRESETS)}) nor a file")
    checkpoint = load_checkpoint(base)
    config = checkpoint["config"]
    if config.head != "detection":
        raise ValueError(f"base {base}: head {config.head!r}; training needs a detection head")
    same = [(a.id, a.name) for a in checkpoint["label_map"].actions] == [
        (a.id, a.name) for a in label_map.actions
    ]
    model = build_model(
        replace(config, num_classes=len(label_map.actions))
    )  # fresh head from `seed`
    state = checkpoint["state_dict"]
    if not same:
        state = {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIX)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(HEAD_PREFIX) for k in missing):
        raise ValueError(f"base {base}: weights do not fit its config ({missing + unexpected})")
    if not same:
        _set_head_bias(model, head_bias)
    return model, dict(checkpoint["preprocess"])


def _set_head_bias(model: SlowFast, head_bias: np.ndarray | None) -> None:
    """A new head starts at the class prior: the first steps then learn which boxes differ
    instead of pushing every score down from sigmoid(0) = 0.5 through the backbone."""
    if head_bias is None:
        return
    if head_bias.shape != model.proj.bias.shape:
        raise ValueError(
            f"head bias of shape {head_bias.shape}; the head has {model.proj.bias.shape}"
        )
    with torch.no_grad():
        model.proj.bias.copy_(torch.from_numpy(np.asarray(head_bias, np.float32)))


def _freeze(model: SlowFast, freeze: str) -> None:
    """BatchNorm layers to eval (frozen statistics); with "backbone" only the head trains."""
    if freeze == "none":
        return
    for module in model.modules():
        if isinstance(module, nn.BatchNorm3d):
            module.eval()
    if freeze == "backbone":
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(HEAD_PREFIX))


class _Logits(nn.Module):
    """The detection model's logits: what DDP wraps (SlowFast.forward returns probabilities)."""

    def __init__(self, model: SlowFast) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: list[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(inputs), boxes)


def learning_rate(step: int, total: int, warmup: int, base: float) -> float:
    """LR of 0-based `step`: linear warm-up from base/10 over `warmup` steps, then cosine to 0."""
    if step < warmup:
        return base * (0.1 + 0.9 * step / warmup)
    span = max(total - warmup, 1)
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / span))


# --- validation --------------------------------------------------------------------------------


def validation_keyframes(gt: ava.AvaRows) -> dict[str, list[predict.KeyframeBoxes]]:
    """Distinct ground-truth boxes of every keyframe, per video."""
    keyframes: dict[str, list[predict.KeyframeBoxes]] = {}
    rows = gt.columns != 2
    for v, video_id in enumerate(gt.videos):
        mine = rows & (gt.video == v)
        for timestamp in np.unique(gt.timestamp[mine]).tolist():
            boxes = np.unique(gt.box[mine & (gt.timestamp == timestamp)], axis=0)
            keyframes.setdefault(video_id, []).append(
                predict.KeyframeBoxes(int(timestamp), boxes.astype(np.float32))
            )
    return keyframes


def validate(
    model: SlowFast,
    gt: ava.AvaRows,
    labelmap: ava.LabelMap,
    paths: dict[str, Path],
    preprocess: dict[str, Any],
    time_offset: Seconds = 0,
    batch_size: int = 8,
) -> float:
    """Frame-mAP at IoU 0.5 of the model's scores on the ground-truth boxes, at test scale."""
    return validation_result(
        model, gt, labelmap, paths, preprocess, time_offset=time_offset, batch_size=batch_size
    ).mean_ap


def validation_result(
    model: SlowFast,
    gt: ava.AvaRows,
    labelmap: ava.LabelMap,
    paths: dict[str, Path],
    preprocess: dict[str, Any],
    time_offset: Seconds = 0,
    batch_size: int = 8,
) -> EvaluationResult:
    """Frame-mAP and per-class AP of the model's scores on the ground-truth boxes."""
    was_training = model.training
    model.eval()
    action_ids = list(labelmap.ids)
    rows = []
    for video_id, keyframes in validation_keyframes(gt).items():
        scores = dict(
            predict.predict_video(
                model,
                paths[video_id],
                keyframes,
                time_offset=time_offset,
                batch_size=batch_size,
                preprocess=predict.Preprocess.from_dict(preprocess),
            )
        )
        rows.append(predict.prediction_rows(video_id, keyframes, scores, action_ids))
    model.train(was_training)
    return evaluate_frame_ap(gt, rows, labelmap)


# --- the loop ----------------------------------------------------------------------------------


def _settings(
    config: TrainConfig, label_map: ava.LabelMap, base: str, files: list[Path]
) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the checkpoint."""
    values = asdict(config)
    for name in ("workers", "checkpoint_every", "val_batch_size"):
        values.pop(name)  # these do not change the weights
    digest = hashlib.sha256()
    for path in files:  # the training data: ground truth and detector boxes
        digest.update(path.read_bytes())
    labels = list(label_map.ids)
    return {**values, "labels": labels, "base": base, "data_sha256": digest.hexdigest()}


def train(
    *,
    train_gt: str | Path,
    val_gt: str | Path,
    videos: str | Path,
    labelmap: str | Path,
    base: str,
    out: str | Path,
    person_boxes: str | Path | None = None,
    config: TrainConfig | None = None,
    device: str | torch.device = "cpu",
    progress: Callable[[TrainProgress], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a detection model on AVA ground truth and write our checkpoint to `out`.

    A run whose `out` holds an unfinished checkpoint of the same settings resumes from it.
    """
    config = config or TrainConfig()
    device = torch.device(device)
    out = Path(out)
    rank, world = _world()
    say = log if log is not None and rank == 0 else (lambda _: None)
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not a multiple of {world} processes")

    # Data: samples of the training keyframes, ground truth of the validation ones.
    label_map = ava.read_labelmap(labelmap)
    action_ids = list(label_map.ids)
    train_rows = ava.read_ava_csv(train_gt, "gt", action_ids=None)
    val_rows = ava.read_ava_csv(val_gt, "gt", action_ids=None)
    boxes_rows = ava.read_ava_csv(person_boxes, "person-boxes") if person_boxes else None
    samples = data.keyframe_samples(train_rows, action_ids, boxes_rows)
    if len(samples) < config.batch_size:
        raise ValueError(
            f"{train_gt}: {len(samples)} keyframes with labelled boxes, fewer than one batch "
            f"({config.batch_size})"
        )
    paths = data.video_paths(videos, sorted(set(train_rows.videos) | set(val_rows.videos)))
    steps_per_epoch = len(samples) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    warmup = min(round(config.warmup_epochs * steps_per_epoch), total_steps // 2)

    # Model: the run's own checkpoint when resuming, else the base.
    data_files = [Path(train_gt)] + ([Path(person_boxes)] if person_boxes else [])
    settings = _settings(config, label_map, base, data_files)
    state: dict[str, Any] = {}
    if out.exists():
        checkpoint = load_checkpoint(out)
        state = checkpoint.get("training") or {}
        if not state:
            raise ValueError(f"{out} exists and is not a training checkpoint; choose another --out")
        changed = sorted(k for k in settings if state["settings"].get(k) != settings[k])
        if changed:
            raise ValueError(f"{out} was trained with other settings ({changed}); cannot resume")
        model = build_model(checkpoint["config"])
        model.load_state_dict(checkpoint["state_dict"])
        preprocess = checkpoint["preprocess"]
        say(f"resuming {out} at step {state['step']} of {total_steps}")
    else:
        prior = data.class_prior_logits(samples, len(action_ids))
        model, preprocess = start_model(base, label_map, config.seed, head_bias=prior)
    model.to(device)
    spec = predict.clip_spec(model)
    normalise = predict.Preprocess.from_dict(preprocess)
    dataset = data.ClipDataset(
        samples,
        paths,
        spec,
        data.Augment.for_test_size(normalise.short_side),
        config.seed,
        config.time_offset,
    )

    trainable = [p for n, p in model.named_parameters()
                 if config.freeze != "backbone" or n.startswith(HEAD_PREFIX)]  # fmt: skip
    optimizer = torch.optim.SGD(
        trainable, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    if state:
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
    else:
        torch.manual_seed(config.seed)  # dropout masks
    network: nn.Module = _Logits(model)
    if world > 1:
        if config.freeze == "none" and device.type == "cuda":
            network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
        network = nn.parallel.DistributedDataParallel(
            network, device_ids=[device.index] if device.type == "cuda" else None
        )
    autocast = native_bf16(device)

    val_map_initial = state.get("val_map_initial")
    if not state and rank == 0 and config.epochs:
        val_map_initial = validate(
            model, val_rows, label_map, paths, preprocess, config.time_offset, config.val_batch_size
        )
        say(f"untrained val frame-mAP {val_map_initial:.4f}")
    step = int(state.get("step", 0))
    history: dict[str, Any] = state.get("history") or {"losses": [], "samples": 0, "seconds": 0.0,
                                                       "wait": 0.0}  # fmt: skip
    resumed_from = step
    epoch_losses: list[float] = list(state.get("epoch_loss_sum", []))
    saved = [step] if state else []  # step of the checkpoint in `out`

    def save(finished: bool, metrics: dict[str, Any] | None = None) -> None:
        if rank != 0:
            return
        training = {
            "settings": settings,
            "step": step,
            "finished": finished,
            "history": history,
            "epoch_loss_sum": epoch_losses,
            "val_map_initial": val_map_initial,
            "torch_rng": torch.get_rng_state(),
        }
        if not finished:  # the final file carries no optimizer state
            training["optimizer"] = optimizer.state_dict()
        save_checkpoint(out, model, label_map, preprocess, metrics, training=training)
        saved[:] = [step]

    if state.get("finished"):
        return _result(out, config, state, total_steps, resumed_from)

    network.train()
    _freeze(model, config.freeze)
    # One loader for every remaining step: workers start once and read ahead across epochs.
    sampler = data.StepSampler(
        len(samples), config.batch_size, config.seed, step, total_steps, rank, world
    )
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=data.collate,
        num_workers=config.workers,
        generator=torch.Generator(),  # keeps torch's global generator for dropout alone
        prefetch_factor=4 if config.workers else None,
    )
    batches = iter(loader)
    while step < total_steps:
        epoch = step // steps_per_epoch
        if len(epoch_losses) <= epoch:
            epoch_losses.append(0.0)
        started = time.perf_counter()
        batch = next(batches)
        waited = time.perf_counter() - started

        lr = learning_rate(step, total_steps, warmup, config.lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        clips = batch.clips.to(device, non_blocking=True)  # (B, T*alpha, H, W, 3) uint8
        inputs = predict.model_inputs(clips, spec, model.config.pathways, normalise)
        boxes = batch.boxes.to(device)  # (N, 5)
        labels = batch.labels.to(device)  # (N, classes)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = network(inputs, boxes)  # (N, classes)
        per_box = F.binary_cross_entropy_with_logits(logits.float(), labels, reduction="none")
        per_box = per_box.mean(dim=1)  # (N,)
        # Mean over the boxes of the global batch: DDP averages gradients over processes, so
        # each one scales its sum by world / (boxes in the global batch).
        totals = torch.stack([per_box.sum().detach(), torch.tensor(float(len(per_box)))])
        if world > 1:
            dist.all_reduce(totals)
        loss_value = float(totals[0] / totals[1])
        if not math.isfinite(loss_value):
            kept = f"{out} keeps step {saved[0]}" if saved else f"nothing written to {out}"
            raise LossNotFinite(
                f"loss is {loss_value} at step {step + 1} (epoch {epoch + 1}); training "
                f"stopped ({kept})"
            )
        loss = per_box.sum() * world / totals[1]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1

        seconds = time.perf_counter() - started
        history["samples"] += config.batch_size
        history["seconds"] += seconds
        history["wait"] += waited
        epoch_losses[epoch] += loss_value
        speed = history["samples"] / max(history["seconds"], 1e-9)
        if progress is not None and rank == 0:
            progress(
                TrainProgress(
                    epoch=epoch + 1,
                    epochs=config.epochs,
                    step=step,
                    steps=total_steps,
                    loss=loss_value,
                    lr=lr,
                    samples_per_s=speed,
                    eta_s=(total_steps - step) * config.batch_size / speed,
                )
            )
        if step % steps_per_epoch == 0:
            history["losses"] = [s / steps_per_epoch for s in epoch_losses]
            save(finished=False)
            say(f"epoch {epoch + 1}/{config.epochs}: mean loss {history['losses'][-1]:.4f}")
        elif config.checkpoint_every and step % config.checkpoint_every == 0:
            save(finished=False)

    val_map = None
    if rank == 0:
        val_map = validate(
            model, val_rows, label_map, paths, preprocess, config.time_offset, config.val_batch_size
        )
        say(f"trained val frame-mAP {val_map:.4f}")
    metrics = {
        "val_map": val_map,
        "val_map_initial": val_map_initial,
        "epochs": config.epochs,
        "steps": step,
        "samples_per_s": history["samples"] / max(history["seconds"], 1e-9),
        "data_wait_share": history["wait"] / max(history["seconds"], 1e-9),
        "losses": history["losses"],
        "train_gt": str(train_gt),
        "val_gt": str(val_gt),
        "base": base,
        "hyper_parameters": settings,
    }
    save(finished=True, metrics=metrics)
    if world > 1:
        dist.barrier()
    return _result(out, config, {"history": history, "metrics": metrics}, total_steps, resumed_from)


def _result(
    out: Path, config: TrainConfig, state: dict[str, Any], steps: int, resumed_from: int
) -> TrainResult:
    metrics = state.get("metrics")
    if metrics is None:  # a finished run opened again
        metrics = load_checkpoint(out).get("metrics", {})
    return TrainResult(
        checkpoint=out,
        epochs=config.epochs,
        steps=steps,
        val_map=metrics.get("val_map"),
        val_map_initial=metrics.get("val_map_initial"),
        samples_per_s=float(metrics.get("samples_per_s", 0.0)),
        data_wait_share=float(metrics.get("data_wait_share", 0.0)),
        resumed_from_step=resumed_from,
        losses=list(metrics.get("losses", [])),
    )
