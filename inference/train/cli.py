"""`python -m inference train`: train on AVA CSVs and videos; a progress bar on stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import torch
import torch.distributed as dist

from inference.train.loop import FREEZE, TrainConfig, TrainProgress, train


def add_config_arguments(
    parser: argparse.ArgumentParser, defaults: TrainConfig | None = None
) -> None:
    """Add an option per `TrainConfig` hyper-parameter to `parser`, with `defaults`' values."""
    defaults = defaults or TrainConfig()
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="global")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--warmup-epochs", type=float, default=defaults.warmup_epochs)
    parser.add_argument("--freeze", choices=FREEZE, default=defaults.freeze)
    parser.add_argument("--seed", type=int, default=defaults.seed, help="training seed")
    parser.add_argument(
        "--time-offset", type=float, default=defaults.time_offset, help="900 for AVA cut files"
    )
    parser.add_argument("--workers", type=int, default=defaults.workers, help="data processes")
    parser.add_argument(
        "--checkpoint-every", type=int, default=defaults.checkpoint_every, help="steps (0: epochs)"
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The `TrainConfig` of options added by `add_config_arguments`; ValueError if one is bad."""
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        freeze=args.freeze,
        seed=args.seed,
        time_offset=args.time_offset,
        workers=args.workers,
        checkpoint_every=args.checkpoint_every,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inference train",
        description="Train an AVA detection model; rerun with the same --out to resume. Under "
        "torchrun, every process takes its share of each global batch.",
    )
    parser.add_argument("--train-gt", required=True, help="AVA ground-truth CSV to train on")
    parser.add_argument("--val-gt", required=True, help="AVA ground-truth CSV to validate on")
    parser.add_argument("--videos", required=True, help="directory of <video id>.<ext> files")
    parser.add_argument("--labelmap", required=True, help="pbtxt label map: the model's actions")
    parser.add_argument("--base", required=True, help="preset name (e.g. small) or checkpoint")
    parser.add_argument("--out", required=True, help="checkpoint to write (and resume from)")
    parser.add_argument("--person-boxes", help="detector boxes CSV (IoU >= 0.9 to a GT box)")
    add_config_arguments(parser)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")
    return parser


def _start_distributed(device: str) -> str:
    """Join torchrun's process group when WORLD_SIZE > 1; the device of this process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    cuda = device.startswith("cuda")
    dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return device


def cli(argv: list[str]) -> int:
    """Run `python -m inference train`; returns the exit code."""
    from tqdm import tqdm

    args = _parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    device = _start_distributed(args.device)
    rank = dist.get_rank() if dist.is_initialized() else 0
    bar: Any = None

    def progress(update: TrainProgress) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=update.steps, initial=update.step - 1, file=sys.stderr, unit="step")
        bar.set_postfix_str(
            f"epoch {update.epoch}/{update.epochs} loss {update.loss:.4f} lr {update.lr:.4g} "
            f"{update.samples_per_s:.2f} clips/s"
        )
        bar.update(1)

    try:
        result = train(
            train_gt=args.train_gt,
            val_gt=args.val_gt,
            videos=args.videos,
            labelmap=args.labelmap,
            base=args.base,
            out=args.out,
            person_boxes=args.person_boxes,
            config=config,
            device=device,
            progress=progress,
            log=lambda text: print(text, file=sys.stderr, flush=True),
        )
    except ValueError as error:  # bad input, or a loss that became NaN or infinite
        if bar is not None:
            bar.close()
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if bar is not None:
        bar.close()
    if args.json and rank == 0:
        summary = {
            "checkpoint": str(result.checkpoint),
            "epochs": result.epochs,
            "steps": result.steps,
            "val_map": result.val_map,
            "val_map_initial": result.val_map_initial,
            "samples_per_s": round(result.samples_per_s, 4),
            "data_wait_share": round(result.data_wait_share, 4),
            "resumed_from_step": result.resumed_from_step,
            "losses": result.losses,
        }
        print(json.dumps(summary))
    return 0
