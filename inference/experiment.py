"""`python -m inference experiment slowfast-vs-slow OUTDIR`: Figure 3 of the SlowFast paper in
miniature, on synthetic data.

Renders one synthetic dataset, trains the Slow-only `small_slow` and the SlowFast `small` presets
on it with the same settings (steps, batch, learning rate, seed), scores both on the held-out
videos' ground-truth boxes with the frame-mAP evaluator, and writes the per-class chart (baseline
A: Slow-only, B: SlowFast), a JSON of per-class AP and the two checkpoints. The synthetic
taxonomy has classes that differ only in motion (`inference.synth.actions.MOTION_ONLY`); the JSON
reports their mean AP apart from the others'.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inference.train.loop import TrainConfig

EXPERIMENTS = ("slowfast-vs-slow",)
BASELINE, MODEL = "small_slow", "small"


def experiment_training() -> TrainConfig:
    """The training budget both models get by default: 6 epochs of batches of 8, one data worker,
    and `TrainConfig`'s other defaults (the settings of the results in bench/README)."""
    from inference.train.loop import TrainConfig

    return TrainConfig(epochs=6, batch_size=8, workers=1)


@dataclass(frozen=True)
class ExperimentConfig:
    """The data and the training budget both models get."""

    videos: int = 10
    val_videos: int = 2
    seconds: float = 30.0
    size: str = "320x180"
    data_seed: int = 1313
    training: TrainConfig = field(default_factory=experiment_training)

    def __post_init__(self) -> None:
        if not 0 < self.val_videos < self.videos:
            raise ValueError(
                f"val_videos {self.val_videos} must be between 1 and videos - 1 ({self.videos - 1})"
            )


def _mean(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None and not math.isnan(value)]
    return sum(known) / len(known) if known else None


def class_groups(per_class: dict[int, float | None]) -> dict[str, float | None]:
    """Mean AP of the motion-only classes and of the others (classes with ground truth)."""
    from inference.synth.actions import ACTION_BY_KEY, MOTION_ONLY

    motion = {ACTION_BY_KEY[key].label_id for key in MOTION_ONLY}
    return {
        "motion_only": _mean([ap for action, ap in per_class.items() if action in motion]),
        "other": _mean([ap for action, ap in per_class.items() if action not in motion]),
    }


def evaluate_checkpoint(
    checkpoint: str | Path, gt_csv: str | Path, videos: str | Path, labelmap: str | Path
) -> Any:
    """The `EvaluationResult` of a checkpoint on a ground-truth CSV's boxes, at test scale."""
    from inference import ava
    from inference.checkpoints import load_checkpoint, load_model
    from inference.train.data import video_paths
    from inference.train.loop import validation_result

    model = load_model(checkpoint)
    labels = ava.read_labelmap(labelmap)
    gt = ava.read_ava_csv(gt_csv, "gt", action_ids={a.id for a in labels.actions})
    paths = video_paths(videos, list(gt.videos))
    preprocess = dict(load_checkpoint(checkpoint)["preprocess"])
    return validation_result(model, gt, labels, paths, preprocess)


def slowfast_vs_slow(
    outdir: str | Path,
    config: ExperimentConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the experiment into `outdir`; returns what it writes to `per_class.json`."""
    from inference.ava import read_labelmap
    from inference.figures import comparison_from_results, figure_png, figure_svg
    from inference.synth import generate_dataset
    from inference.train.loop import train

    config = config or ExperimentConfig()
    say = log or (lambda text: None)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say(f"rendering {config.videos} videos of {config.seconds:g} s (seed {config.data_seed})")
    manifest = generate_dataset(
        out / "data",
        videos=config.videos,
        val_videos=config.val_videos,
        seconds=config.seconds,
        size=config.size,
        seed=config.data_seed,
    )
    root = manifest.root
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for name in (BASELINE, MODEL):
        say(f"training {name}")
        began = time.monotonic()
        train(
            train_gt=root / "train.csv",
            val_gt=root / "val.csv",
            videos=root / "videos",
            labelmap=manifest.label_map,
            base=name,
            out=out / f"{name}.pt",
            person_boxes=root / "train_predicted_boxes.csv",
            config=config.training,
            log=say,
        )
        results[name] = evaluate_checkpoint(
            out / f"{name}.pt", root / "val.csv", root / "videos", manifest.label_map
        )
        seconds[name] = round(time.monotonic() - began, 1)
        say(f"{name}: held-out frame-mAP {results[name].mean_ap:.4f}")
    labelmap = read_labelmap(manifest.label_map)
    actions = {action.id: (action.name, action.type or "") for action in labelmap.actions}
    comparison = comparison_from_results(
        results[MODEL].to_json(),
        results[BASELINE].to_json(),
        actions,
        (f"SlowFast ({MODEL})", f"Slow-only ({BASELINE})"),
    )
    (out / "figure.svg").write_text(figure_svg(comparison))
    (out / "figure.png").write_bytes(figure_png(comparison))
    summary: dict[str, Any] = {
        "experiment": "slowfast-vs-slow",
        "config": asdict(config),
        "models": {
            name: {
                "checkpoint": f"{name}.pt",
                **results[name].to_json(),
                "groups": class_groups(results[name].ap),
                "seconds": seconds[name],
            }
            for name in (BASELINE, MODEL)
        },
        "classes": [
            {
                "action_id": row.action_id,
                "name": row.name,
                "gt_count": row.gt_count,
                "slow_ap": row.baseline_ap,
                "slowfast_ap": row.ap,
                "gain": row.gain,
                "absolute_mark": row.absolute_mark,
            }
            for row in comparison.classes
        ],
        "seconds": round(time.monotonic() - started, 1),
    }
    (out / "per_class.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def cli(argv: list[str]) -> int:
    """Run `python -m inference experiment NAME OUTDIR`; returns the exit code."""
    from inference.train.cli import add_config_arguments, config_from_args

    defaults = ExperimentConfig()
    parser = argparse.ArgumentParser(
        prog="python -m inference experiment",
        description="slowfast-vs-slow: train small_slow and small with the same budget on the "
        "same synthetic data, compare per-class AP on held-out videos (Figure 3).",
    )
    parser.add_argument("experiment", choices=EXPERIMENTS)
    parser.add_argument("outdir", help="directory to write (data, checkpoints, chart, JSON)")
    parser.add_argument("--videos", type=int, default=defaults.videos)
    parser.add_argument("--val-videos", type=int, default=defaults.val_videos)
    parser.add_argument("--seconds", type=float, default=defaults.seconds)
    parser.add_argument("--size", default=defaults.size, help="WxH of the rendered videos")
    parser.add_argument("--data-seed", type=int, default=defaults.data_seed)
    add_config_arguments(parser, defaults.training)
    args = parser.parse_args(argv)
    try:
        config = ExperimentConfig(
            videos=args.videos,
            val_videos=args.val_videos,
            seconds=args.seconds,
            size=args.size,
            data_seed=args.data_seed,
            training=config_from_args(args),
        )
        summary = slowfast_vs_slow(
            args.outdir, config, log=lambda text: print(text, file=sys.stderr, flush=True)
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    groups = {name: model["groups"] for name, model in summary["models"].items()}
    print(json.dumps({"mAP": {n: m["mAP"] for n, m in summary["models"].items()}, **groups}))
    return 0
