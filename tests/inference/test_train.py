from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import torch

from inference import ava, video
from inference.__main__ import main
from inference.ava import LabelMap
from inference.checkpoints import load_checkpoint, read_labelmap, save_checkpoint
from inference.models import build_model, preset
from inference.synth import generate_dataset
from inference.train import LossNotFinite, TrainConfig, TrainProgress, start_model, train
from inference.train import cli as train_cli
from inference.train import data as train_data
from inference.train.loop import HEAD_PREFIX, learning_rate
from inference.video import ClipSpec

REPO = Path(__file__).resolve().parents[2]
# The small preset at a 64-pixel test scale (56-pixel training crops): fast enough for CI.
TOY = dataclasses.replace(preset("small"), crop_size=64)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: on a shared 2-core machine, more threads spin and run far slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _base(path: Path, label_map: LabelMap, **changes: object) -> Path:
    torch.manual_seed(0)
    config = dataclasses.replace(TOY, num_classes=len(label_map.actions), **changes)
    save_checkpoint(path, build_model(config), label_map=label_map)
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic videos (4 train, 2 val, 10 s, 1-3 people) rendered by the real generator."""
    root = tmp_path_factory.mktemp("toy")
    generate_dataset(
        root, videos=6, val_videos=2, seconds=10, size="128x96", people=(1, 3), seed=0, plain=True
    )
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short videos: 4 training keyframes, 3 validation keyframes."""
    root = tmp_path_factory.mktemp("tiny")
    generate_dataset(root, videos=2, val_videos=1, seconds=5, size="96x64", people=(1, 2), seed=1)
    return root


def _paths(root: Path) -> dict[str, Path]:
    return {
        "train_gt": root / "train.csv",
        "val_gt": root / "val.csv",
        "videos": root / "videos",
        "labelmap": root / "action_list.pbtxt",
    }


def _labels(root: Path) -> LabelMap:
    return read_labelmap(root / "action_list.pbtxt")


# --- data --------------------------------------------------------------------------------------


def test_it_decodes_a_clip_by_seeking_as_a_full_decode_does(tiny: Path) -> None:
    path = tiny / "videos" / "synth1_000.mp4"
    spec = ClipSpec(num_frames=4, alpha=4, tau=16)
    for timestamp in (1, 3, 4):
        times = spec.fast_times(video.keyframe_file_time(timestamp))
        clip, size = train_data.decode_clip(path, times, 48)
        with closing(video.iter_frames(path)) as frames:
            [(_, expected)] = video.gather_frames(
                frames, {0: times}, lambda frame: video.to_rgb(frame, (72, 48))
            )
        assert size == (72, 48)
        assert clip.shape == (16, 48, 72, 3)
        np.testing.assert_array_equal(clip, np.stack(expected))


def test_detector_boxes_close_to_a_ground_truth_box_take_its_labels() -> None:
    gt = ava.rows_from_records(
        [
            ("v", 2, 0.1, 0.1, 0.5, 0.9, 12, 0),
            ("v", 2, 0.1, 0.1, 0.5, 0.9, 17, 0),
            ("v", 2, 0.6, 0.1, 0.9, 0.9, 14, 1),
            ("v", 2, 0.6, 0.1, 0.9, 0.9, 99, 1),  # not in the label map: dropped
            ("v", 3, 0.2, 0.2, 0.4, 0.4, 99, 2),  # its only label dropped: no sample
        ]
    )
    detections = ava.rows_from_records(
        [
            ("v", 2, 0.1, 0.11, 0.5, 0.9, None, 0.9),  # IoU 0.975 with person 0
            ("v", 2, 0.6, 0.1, 0.8, 0.9, None, 0.8),  # IoU 0.67 with person 1: too far
        ]
    )
    [sample] = train_data.keyframe_samples(gt, [12, 14, 17], detections)
    assert (sample.video_id, sample.timestamp) == ("v", 2)
    np.testing.assert_allclose(sample.boxes[2], [0.1, 0.11, 0.5, 0.9])
    np.testing.assert_array_equal(sample.labels, [[1, 0, 1], [0, 1, 0], [1, 0, 1]])


def test_augmentation_moves_boxes_with_the_frames() -> None:
    frames = np.zeros((2, 80, 120, 3), np.uint8)
    frames[..., 1] = np.arange(120, dtype=np.uint8)  # green grows left to right: shows a flip
    box = np.array([[30, 20, 70, 60]], np.float32)
    frames[:, 20:60, 30:70, 0] = 255
    labels = np.array([[1, 0, 1]], np.float32)
    flips = set()
    for seed in range(12):
        out, moved, kept = train_data.augment(frames, box, labels, 64, np.random.default_rng(seed))
        assert out.shape == (2, 64, 64, 3)
        np.testing.assert_array_equal(kept, labels)
        x1, y1, x2, y2 = moved[0].round().astype(int)
        assert (x2 - x1, y2 - y1) == (40, 40)  # the window holds the whole person box
        lit = np.argwhere(out[0, :, :, 0] == 255)
        assert (lit.min(0) == [y1, x1]).all() and (lit.max(0) == [y2 - 1, x2 - 1]).all()
        flips.add(bool(out[0, 0, 0, 1] > out[0, 0, -1, 1]))
    assert flips == {True, False}  # both flipped and unflipped crops were checked


def test_the_crop_holds_a_person_box_and_drops_boxes_left_less_than_half_visible() -> None:
    # A 120-wide frame and a 64-wide window: no window holds both a (x 0-30) and b (x 70-110).
    # The window on a leaves c (x 50-80) 14/30 visible: c is dropped; one on b keeps c.
    frames = np.zeros((1, 64, 120, 3), np.uint8)
    boxes = np.array([[0, 10, 30, 50], [70, 10, 110, 50], [50, 10, 80, 50]], np.float32)
    labels = np.eye(3, dtype=np.float32)
    widths = boxes[:, 2] - boxes[:, 0]
    seen = set()
    for seed in range(24):
        _, moved, kept = train_data.augment(frames, boxes, labels, 64, np.random.default_rng(seed))
        which = kept.argmax(axis=1)  # the labels follow their boxes: one-hot rows name them
        share = (moved[:, 2] - moved[:, 0]) / widths[which]
        assert (share >= 0.5).all() and np.isclose(share, 1.0).any(), (which, share)
        assert not {0, 1} <= set(which.tolist())
        seen.add(tuple(which.tolist()))
    assert {(0,), (1, 2)} <= seen, seen  # c dropped with a, kept with b
    np.testing.assert_allclose(
        train_data.visible_share(boxes, np.clip(boxes, 0, 64)), [1.0, 0.0, 14 / 30]
    )


def test_a_box_larger_than_the_crop_is_centred_and_kept() -> None:
    frames = np.zeros((1, 64, 120, 3), np.uint8)
    boxes = np.array([[10, 0, 110, 64]], np.float32)  # 100 wide: 64% of it fits at most
    _, moved, kept = train_data.augment(frames, boxes, np.ones((1, 2), np.float32), 64,
                                        np.random.default_rng(0))  # fmt: skip
    np.testing.assert_allclose(moved, [[0, 0, 64, 64]])
    assert len(kept) == 1


def test_a_new_head_starts_at_the_class_prior() -> None:
    # 4 boxes: class 0 on 1 of them, class 1 on 2, class 2 on none, class 3 on all; a class no
    # box (or every box) has counts as half a box off: p = 0.5 / 4 (or 1 - 0.5 / 4).
    labels = np.array([[1, 1, 0, 1], [0, 1, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]], np.float32)
    samples = [
        train_data.Sample("v", 1, np.zeros((3, 4), np.float32), labels[:3]),
        train_data.Sample("v", 2, np.zeros((1, 4), np.float32), labels[3:]),
    ]
    prior = train_data.class_prior_logits(samples, 4)
    np.testing.assert_allclose(prior, [np.log(1 / 3), 0.0, np.log(1 / 7), np.log(7)], rtol=1e-6)
    np.testing.assert_array_equal(train_data.class_prior_logits([], 4), np.zeros(4))
    label_map = LabelMap(tuple(ava.ActionLabel(i, f"a{i}", None) for i in (1, 2, 3, 4)))
    model, _ = start_model("small", label_map, seed=0, head_bias=prior)
    np.testing.assert_allclose(model.proj.bias.detach().numpy(), prior)


def test_each_epoch_visits_every_sample_once_in_an_order_fixed_by_seed_and_epoch() -> None:
    # 10 samples, batches of 3: 3 steps per epoch (the last sample waits for another epoch).
    steps = list(train_data.StepSampler(10, 3, 0, 0, 6))
    epochs = [[i for batch in steps[e * 3 : e * 3 + 3] for _, i in batch] for e in (0, 1)]
    assert [len(set(indices)) for indices in epochs] == [9, 9] and epochs[0] != epochs[1]
    assert {epoch for batch in steps for epoch, _ in batch} == {0, 1}
    assert list(train_data.StepSampler(10, 3, 0, 4, 6)) == steps[4:]  # resuming at step 4
    ranks = [list(train_data.StepSampler(10, 4, 0, 0, 4, rank=r, world=2)) for r in (0, 1)]
    for step, batch in enumerate(train_data.StepSampler(10, 4, 0, 0, 4)):
        assert len(ranks[0][step]) == len(ranks[1][step]) == 2
        assert sorted(ranks[0][step] + ranks[1][step]) == sorted(batch)


def test_learning_rate_warms_up_linearly_then_decays_to_zero() -> None:
    rates = [learning_rate(step, 20, 4, 1.0) for step in range(21)]
    np.testing.assert_allclose(rates[:5], [0.1, 0.325, 0.55, 0.775, 1.0])
    assert all(a >= b for a, b in zip(rates[4:], rates[5:], strict=False))
    assert rates[12] == pytest.approx(0.5) and rates[20] == pytest.approx(0.0)


def test_config_options_build_the_train_config() -> None:
    parser = argparse.ArgumentParser()
    train_cli.add_config_arguments(parser)
    assert train_cli.config_from_args(parser.parse_args([])) == TrainConfig()
    args = parser.parse_args(["--lr=0.1", "--freeze=backbone", "--time-offset=900", "--epochs=3"])
    expected = TrainConfig(lr=0.1, freeze="backbone", time_offset=900.0, epochs=3)
    assert train_cli.config_from_args(args) == expected
    other = argparse.ArgumentParser()
    train_cli.add_config_arguments(other, TrainConfig(epochs=6, workers=1))
    assert train_cli.config_from_args(other.parse_args([])) == TrainConfig(epochs=6, workers=1)
    with pytest.raises(ValueError, match="lr -1.0 must be a positive number"):
        train_cli.config_from_args(parser.parse_args(["--lr=-1"]))


# --- the loop ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_trains_and_beats_the_untrained_model_on_held_out_videos(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A toy-scale base trained on another taxonomy (the same ids under other names), as a team
    # starting from someone else's checkpoint has: the run gives it a new head for the synthetic
    # actions, its bias at their class prior.
    labels = _labels(toy)
    other = LabelMap(tuple(dataclasses.replace(a, name=f"other {a.name}") for a in labels.actions))
    base = _base(tmp_path / "base.pt", other)
    args = [f"--{k.replace('_', '-')}={v}" for k, v in _paths(toy).items()]
    out = tmp_path / "model.pt"
    code = main(
        ["train", *args, f"--base={base}", f"--out={out}", "--epochs=6", "--batch-size=4"]
        + ["--lr=0.02", "--workers=1", f"--person-boxes={toy / 'train_predicted_boxes.csv'}"]
        + ["--json"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    with capsys.disabled():
        print(
            f"\nval frame-mAP untrained {summary['val_map_initial']:.4f} -> trained "
            f"{summary['val_map']:.4f}; {summary['samples_per_s']:.2f} clips/s"
        )
    assert summary["checkpoint"] == str(out) and summary["epochs"] == 6
    assert summary["samples_per_s"] > 0
    assert summary["val_map"] > summary["val_map_initial"] + 0.02
    assert "step/s" in captured.err or "s/step" in captured.err  # the progress bar
    checkpoint = load_checkpoint(out)
    assert checkpoint["metrics"]["val_map"] == summary["val_map"]
    assert checkpoint["label_map"].ids == _labels(toy).ids
    assert "optimizer" not in checkpoint["training"]  # a finished model carries no SGD state


def test_a_rerun_resumes_and_reaches_the_weights_of_an_uninterrupted_run(
    tiny: Path, tmp_path: Path
) -> None:
    base = _base(tmp_path / "base.pt", _labels(tiny))
    # 4 training keyframes, batches of 2: 2 steps per epoch, 4 in all. In this process no loader
    # worker is forked: after the suite's Celery tests a forked child can hang closing the broker
    # connections kombu left here. The CLI test trains with a worker, in its own process.
    config = TrainConfig(epochs=2, batch_size=2, lr=0.05, workers=0, checkpoint_every=1)
    whole = train(**_paths(tiny), base=str(base), out=tmp_path / "whole.pt", config=config)

    class Interrupted(Exception):
        pass

    def stop_in_step_4(update: TrainProgress) -> None:
        if update.step == 4:  # killed before step 4's checkpoint: step 3 is mid-epoch 2
            raise Interrupted

    out = tmp_path / "resumed.pt"
    with pytest.raises(Interrupted):
        train(**_paths(tiny), base=str(base), out=out, config=config, progress=stop_in_step_4)
    assert load_checkpoint(out)["training"]["step"] == 3
    resumed = train(**_paths(tiny), base=str(base), out=out, config=config)
    assert resumed.resumed_from_step == 3 and whole.resumed_from_step == 0
    expected = load_checkpoint(tmp_path / "whole.pt")["state_dict"]
    got = load_checkpoint(out)["state_dict"]
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert not all(
        torch.equal(expected[k], v) for k, v in load_checkpoint(base)["state_dict"].items()
    )
    assert resumed.losses == whole.losses
    with pytest.raises(ValueError, match=r"other settings \(\['lr'\]\)"):
        train(**_paths(tiny), base=str(base), out=out, config=dataclasses.replace(config, lr=0.1))
    changed = tmp_path / "train.csv"
    changed.write_text("".join((tiny / "train.csv").read_text().splitlines(True)[:-1]))
    with pytest.raises(ValueError, match=r"other settings \(\['data_sha256'\]\)"):
        train(**{**_paths(tiny), "train_gt": changed}, base=str(base), out=out, config=config)


@pytest.mark.slow
def test_two_gloo_processes_match_one_with_the_same_global_batch(
    tiny: Path, tmp_path: Path
) -> None:
    base = _base(tmp_path / "base.pt", _labels(tiny), dropout=0.0)
    args = [f"--{k.replace('_', '-')}={v}" for k, v in _paths(tiny).items()]
    args += [f"--base={base}", "--epochs=1", "--batch-size=2", "--freeze=bn", "--workers=0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    torchrun = Path(sys.executable).with_name("torchrun")
    runs = {
        "one": [sys.executable, "-m", "inference", "train"],
        "two": [str(torchrun), "--standalone", "--nproc-per-node=2", "-m", "inference", "train"],
    }
    for name, command in runs.items():
        done = subprocess.run(
            [*command, *args, f"--out={tmp_path / name}.pt", "--json"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout.strip().splitlines()[-1])["steps"] == 2
    one = load_checkpoint(tmp_path / "one.pt")
    two = load_checkpoint(tmp_path / "two.pt")
    start = load_checkpoint(base)["state_dict"]
    assert not torch.equal(one["state_dict"]["proj.weight"], start["proj.weight"])
    # The two runs' updates agree up to the order of float sums (gloo's all-reduce adds the two
    # halves of the batch; one process adds the whole batch): each tensor's update differs by a
    # small fraction of its own size (under 1%; 0.2% was the largest seen, on the stem),
    # whichever CPU runs it.
    for key, value in one["state_dict"].items():
        if not value.is_floating_point():
            assert torch.equal(two["state_dict"][key], value), key
            continue
        update_one, update_two = value - start[key], two["state_dict"][key] - start[key]
        gap = float((update_two - update_one).norm())
        assert gap <= 1e-2 * float(update_one.norm()) + 1e-6, (key, gap, float(update_one.norm()))
    assert two["metrics"]["losses"] == pytest.approx(one["metrics"]["losses"], rel=1e-5)


def test_a_base_with_another_label_map_gets_a_new_head_and_keeps_every_backbone_weight(
    tiny: Path, tmp_path: Path
) -> None:
    base = tmp_path / "ava.pt"
    torch.manual_seed(0)
    save_checkpoint(base, build_model(dataclasses.replace(TOY, num_classes=80)))  # AVA's 80
    before = load_checkpoint(base)["state_dict"]
    labels = _labels(tiny)
    model, preprocess = start_model(str(base), labels, seed=1)
    assert model.config.num_classes == len(labels.actions) == 14
    assert preprocess["short_side"] == 64
    after = {k: v.contiguous() for k, v in model.state_dict().items()}
    backbone = [k for k in before if not k.startswith(HEAD_PREFIX)]
    assert backbone and set(after) == set(before)
    assert all(torch.equal(after[k], before[k]) for k in backbone)
    assert after["proj.weight"].shape == (14, before["proj.weight"].shape[1])
    # Zero epochs: the written checkpoint is the step-0 model.
    out = tmp_path / "zero.pt"
    train(**_paths(tiny), base=str(base), out=out, config=TrainConfig(epochs=0, batch_size=2))
    written = load_checkpoint(out)
    assert all(torch.equal(written["state_dict"][k], before[k]) for k in backbone)
    assert written["label_map"].ids == labels.ids
    # The new head's bias is the training boxes' class prior.
    samples = train_data.keyframe_samples(
        ava.read_ava_csv(tiny / "train.csv", "gt", action_ids=None), list(labels.ids)
    )
    prior = train_data.class_prior_logits(samples, len(labels.ids))
    np.testing.assert_allclose(written["state_dict"]["proj.bias"].numpy(), prior, rtol=1e-6)
    # A base with the same label map keeps its head as it is.
    kept, _ = start_model(str(out), labels, seed=1, head_bias=np.zeros(14, np.float32))
    np.testing.assert_allclose(kept.proj.bias.detach().numpy(), prior, rtol=1e-6)


def test_a_nan_loss_stops_training_naming_the_step(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _base(tmp_path / "base.pt", _labels(tiny))
    checkpoint = torch.load(base, weights_only=True)
    checkpoint["state_dict"]["proj.bias"][3] = float("nan")
    torch.save(checkpoint, base)
    config = TrainConfig(epochs=1, batch_size=2, workers=0)
    with pytest.raises(LossNotFinite, match=r"loss is nan at step 1 \(epoch 1\)"):
        train(**_paths(tiny), base=str(base), out=tmp_path / "a.pt", config=config)
    assert not (tmp_path / "a.pt").exists()
    # Huge steps make a finite loss overflow later; the CLI names that step and fails.
    args = [f"--{k.replace('_', '-')}={v}" for k, v in _paths(tiny).items()]
    code = main(["train", *args, "--base=small", f"--out={tmp_path / 'b.pt'}", "--lr=1e30"]
                + ["--epochs=2", "--batch-size=2", "--workers=0", "--warmup-epochs=0"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "error: loss is" in err and "at step 2 (epoch 1)" in err, err[-500:]


def test_cli_rejects_a_videos_directory_without_a_listed_video(tiny: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    shutil.copytree(tiny / "videos", videos)
    (videos / "synth1_001.mp4").unlink()
    args = {**_paths(tiny), "videos": videos}
    with pytest.raises(ValueError, match=r"no video file .* \['synth1_001'\]"):
        train(**args, base="small", out=tmp_path / "m.pt", config=TrainConfig(batch_size=2))
