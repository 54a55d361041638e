"""Issue 12's training case scored on 24 held-out videos as well as its own 2, to compare settings.

`python -m inference synth DATA --videos 8 --val-videos 2 --seconds 30` holds out 2 videos, and
their frame-mAP moves by as much between training seeds as between settings. A video of the
generator depends on (seed, index) alone, so rendering 30 videos with 24 held out gives the same 6
training videos and 2 first held-out videos, and 22 more to score on. This trains once with the
settings given (every `train` hyper-parameter option) and prints, before and after training, the
held-out frame-mAP on the issue's 2 videos and on all 24.

Usage: .venv/bin/python bench/train_settings.py WORKDIR [--seed S] [--batch-size B] [--lr LR] ...
(WORKDIR keeps the rendered dataset between runs; one torch thread, as the issue's runs.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from inference import ava
from inference.checkpoints import load_checkpoint
from inference.models import build_model
from inference.synth import SynthConfig, generate_dataset
from inference.train import TrainConfig, start_model, train
from inference.train import data as train_data
from inference.train.cli import add_config_arguments, config_from_args
from inference.train.loop import validate

TRAIN_VIDEOS, ISSUE_VAL, MORE_VAL = 6, 2, 22


def dataset(work: Path) -> Path:
    """The 30-video dataset (rendered once) and `val2.csv`, the issue's 2 held-out videos."""
    root = work / "data"
    if not (root / "manifest.json").is_file():
        videos = TRAIN_VIDEOS + ISSUE_VAL + MORE_VAL
        config = SynthConfig(videos=videos, seconds=30, val_videos=ISSUE_VAL + MORE_VAL)
        generate_dataset(root, config, jobs=2)
    if not (root / "val2.csv").is_file():
        issue = {
            SynthConfig().video_id(index) for index in range(TRAIN_VIDEOS, TRAIN_VIDEOS + ISSUE_VAL)
        }
        rows = (root / "val.csv").read_text().splitlines(keepends=True)
        (root / "val2.csv").write_text("".join(r for r in rows if r.split(",")[0] in issue))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    add_config_arguments(parser, TrainConfig(workers=1))
    args = parser.parse_args()
    config = config_from_args(args)
    torch.set_num_threads(1)
    root = dataset(args.work)
    labelmap = ava.read_labelmap(root / "action_list.pbtxt")
    out = args.work / f"run-{time.time_ns()}.pt"
    started = time.perf_counter()
    result = train(
        train_gt=root / "train.csv",
        val_gt=root / "val2.csv",
        videos=root / "videos",
        labelmap=root / "action_list.pbtxt",
        base="small",
        out=out,
        person_boxes=root / "train_predicted_boxes.csv",
        config=config,
    )
    seconds = time.perf_counter() - started
    checkpoint = load_checkpoint(out)
    trained = build_model(checkpoint["config"])
    trained.load_state_dict(checkpoint["state_dict"])
    samples = train_data.keyframe_samples(
        ava.read_ava_csv(root / "train.csv", "gt", action_ids=None),
        list(labelmap.ids),
        ava.read_ava_csv(root / "train_predicted_boxes.csv", "person-boxes"),
    )
    prior = train_data.class_prior_logits(samples, len(labelmap.actions))
    untrained, _ = start_model("small", labelmap, config.seed, head_bias=prior)
    val = ava.read_ava_csv(root / "val.csv", "gt", action_ids=None)
    paths = train_data.video_paths(root / "videos", val.videos)
    preprocess = checkpoint["preprocess"]
    out.unlink()
    print(
        json.dumps(
            {
                "settings": {k: v for k, v in vars(args).items() if k != "work"},
                "issue_val_untrained": result.val_map_initial,
                "issue_val_trained": result.val_map,
                "val24_untrained": validate(untrained, val, labelmap, paths, preprocess),
                "val24_trained": validate(trained, val, labelmap, paths, preprocess),
                "train_seconds": round(seconds, 1),
                "losses": [round(loss, 4) for loss in result.losses],
            }
        )
    )


if __name__ == "__main__":
    main()
