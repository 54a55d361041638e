"""Training throughput on CPU: our `small` and SlowFast R50 8x8 (AVA head) against pytorchvideo.

In one run:
1. Model step, both models: samples/s of one training step (forward to box logits, BCE with
   logits, backward, SGD with momentum) on the same random batch, ours against pytorchvideo's
   `create_slowfast_with_roi_head` built to the same architecture (for `small`, pytorchvideo's
   stage-depth table gets a 1-1-1-1 entry: bench-only), runs alternating so load hits both alike.
2. Whole loop: `inference.train.train` on a freshly rendered synthetic dataset (PyAV decoding and
   augmentation in DataLoader workers), its samples/s and the share of step time spent waiting
   for the next batch (floor for R50: under 10%).

Usage: .venv/bin/python bench/train.py [--threads 1] [--batch 2] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from inference.checkpoints import read_labelmap, save_checkpoint
from inference.models import build_model, preset
from inference.synth import generate_dataset
from inference.train import TrainConfig, train
from inference.train.loop import _Logits

CLASSES = 14  # the synthetic taxonomy


def reference_model(name: str) -> torch.nn.Module:
    """pytorchvideo's SlowFast with RoI head, built to our preset `name`'s architecture."""
    import pytorchvideo.models.slowfast as pvs

    config = preset(name)
    if config.depth not in pvs._MODEL_STAGE_DEPTH:
        pvs._MODEL_STAGE_DEPTH[config.depth] = config.stage_blocks
    fast_frames = config.num_frames * config.alpha
    return pvs.create_slowfast_with_roi_head(
        model_depth=config.depth,
        model_num_class=CLASSES,
        stem_dim_outs=(config.width, config.width // config.beta_inv),
        slowfast_fusion_conv_kernel_size=(config.fusion_kernel, 1, 1),
        slowfast_fusion_conv_stride=(config.alpha, 1, 1),
        head_pool_kernel_sizes=((config.num_frames, 1, 1), (fast_frames, 1, 1)),
        head_spatial_scale=config.spatial_scale,
    )


def step_runner(
    model: torch.nn.Module, logits: Callable[[], torch.Tensor], labels: torch.Tensor
) -> Callable[[], None]:
    """One SGD step of `model` on a fixed batch."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-4)
    model.train()

    def step() -> None:
        loss = F.binary_cross_entropy_with_logits(logits(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def model_steps(name: str, batch: int, repeats: int) -> dict[str, float]:
    """Samples/s of our training step and pytorchvideo's on the same batch."""
    config = dataclasses.replace(preset(name), num_classes=CLASSES)
    crop = config.crop_size * 7 // 8
    generator = torch.Generator().manual_seed(0)
    fast = torch.randn(batch, 3, config.num_frames * config.alpha, crop, crop, generator=generator)
    slow = fast[:, :, :: config.alpha].contiguous()
    boxes = torch.tensor(
        [[i, crop * 0.1, crop * 0.2, crop * 0.5, crop * 0.9] for i in range(batch)]
        + [[i, crop * 0.4, crop * 0.1, crop * 0.9, crop * 0.8] for i in range(batch)]
    )
    labels = (torch.rand(len(boxes), CLASSES, generator=generator) < 0.2).float()
    torch.manual_seed(0)
    ours = _Logits(build_model(config))
    reference = reference_model(name)
    # pytorchvideo's RoI head applies its sigmoid in train mode too: train on the projection.
    reference.detection_head.activation = None
    # dropout off in both, so the two steps do the same work
    for module in [*ours.modules(), *reference.modules()]:
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    runs = {
        "ours": step_runner(ours, lambda: ours([slow, fast], boxes), labels),
        "pytorchvideo": step_runner(
            reference, lambda: reference([slow.clone(), fast.clone()], boxes), labels
        ),
    }
    times: dict[str, list[float]] = {key: [] for key in runs}
    for run in runs.values():
        run()  # warm-up
    for _ in range(repeats):
        for key, run in runs.items():
            started = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - started)
    median = {key: statistics.median(values) for key, values in times.items()}
    return {
        "ours_samples_per_s": round(batch / median["ours"], 3),
        "pytorchvideo_samples_per_s": round(batch / median["pytorchvideo"], 3),
        "speedup": round(median["pytorchvideo"] / median["ours"], 2),
    }


def whole_loop(name: str, root: Path, batch: int, workers: int, steps: int) -> dict[str, float]:
    """`inference.train.train` for `steps` steps: samples/s and the share spent waiting for data."""
    labels = read_labelmap(root / "action_list.pbtxt")
    base = root / f"{name}.base.pt"
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(preset(name), num_classes=len(labels)))
    save_checkpoint(base, model, label_map=labels)
    result = train(
        train_gt=root / "train.csv",
        val_gt=root / "val.csv",
        videos=root / "videos",
        labelmap=root / "action_list.pbtxt",
        base=str(base),
        out=root / f"{name}.pt",
        config=TrainConfig(epochs=1, batch_size=batch, workers=workers, warmup_epochs=0),
    )
    assert result.steps >= steps, result
    return {
        "samples_per_s": round(result.samples_per_s, 3),
        "data_wait_share": round(result.data_wait_share, 4),
        "steps": result.steps,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--batch", type=int, default=2, help="clips per step (2 boxes each)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict[str, object] = {"threads": args.threads, "batch": args.batch}
    for name in ("small", "slowfast_r50_8x8_ava"):
        results[f"{name}_step"] = model_steps(name, args.batch, args.repeats)
        print(f"{name} step: {results[f'{name}_step']}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # 640x360 like real footage; 3 training keyframes per video, batches of `batch`.
        generate_dataset(root, videos=3, val_videos=1, seconds=4, people=(1, 2), seed=5)
        for name in ("small", "slowfast_r50_8x8_ava"):
            results[f"{name}_loop"] = whole_loop(name, root, args.batch, args.workers, 2)
            print(f"{name} loop: {results[f'{name}_loop']}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
