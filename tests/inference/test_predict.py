from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from inference import ava, load_model, predict
from inference.checkpoints import save_checkpoint
from inference.models import build_model, preset
from inference.predict import KeyframeBoxes
from inference.video import DecodeStats
from tests.conftest import POOL_VIDEO

POOL = POOL_VIDEO
POOL_FRAMES = 300
BOXES = np.array([[0.1, 0.1, 0.5, 0.9], [0.4, 0.2, 0.9, 0.8]], np.float32)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "small.pt"
    save_checkpoint(path, build_model(preset("small")))
    return path


@pytest.fixture(scope="module")
def pool_frames() -> list[np.ndarray]:
    """Every frame of the real video at the small preset's 128-pixel short side."""
    with av.open(str(POOL)) as container:
        return [
            image.to_ndarray(width=170, height=128, format="rgb24", interpolation="BILINEAR")
            for image in container.decode(video=0)
        ]


def reference_scores(
    model: torch.nn.Module, frames: list[np.ndarray], timestamp: int, boxes: np.ndarray
) -> np.ndarray:
    """The model on a clip built by hand: a 30 fps video's frame at t is frame floor(30 t)."""
    config = model.config
    length, step = config.num_frames * config.alpha, config.tau // config.alpha
    indices = [
        min(max(timestamp * 30 + (i - length // 2) * step, 0), POOL_FRAMES - 1)
        for i in range(length)
    ]
    clip = np.stack([frames[k] for k in indices]).astype(np.float32) / 255  # (T, H, W, 3)
    clip = (clip - 0.45) / 0.225
    fast = torch.from_numpy(clip).permute(3, 0, 1, 2)[None]  # (1, 3, T, H, W)
    slow = fast[:, :, torch.linspace(0, length - 1, length // config.alpha).long()]
    inputs = [slow, fast] if config.pathways == 2 else [fast]
    pixels = torch.from_numpy(boxes * np.array([170, 128, 170, 128], np.float32))
    rois = torch.cat([torch.zeros(len(boxes), 1), pixels], dim=1)
    with torch.inference_mode():
        return model(inputs, rois).numpy()


def test_it_scores_every_box_as_the_model_does_on_a_hand_built_clip(
    checkpoint: Path, pool_frames: list[np.ndarray]
) -> None:
    model = load_model(str(checkpoint))
    keyframes = [KeyframeBoxes(ts, BOXES[: 1 + ts % 2]) for ts in range(0, 11)]
    stats = DecodeStats()
    calls: list[tuple[int, int]] = []

    scores = dict(
        predict.predict_video(
            model,
            POOL,
            keyframes,
            batch_size=3,
            stats=stats,
            progress=lambda done, total: calls.append((done, total)),
        )
    )

    assert sorted(scores) == list(range(0, 11))
    for keyframe in keyframes:
        expected = reference_scores(model, pool_frames, keyframe.timestamp, keyframe.boxes)
        assert scores[keyframe.timestamp].shape == (len(keyframe.boxes), 80)
        np.testing.assert_allclose(scores[keyframe.timestamp], expected, atol=2e-5)
    assert stats.frames_decoded <= 1.05 * POOL_FRAMES
    assert calls[-1] == (11, 11)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_it_gives_the_same_scores_whatever_the_batch_size(checkpoint: Path) -> None:
    model = load_model(str(checkpoint))
    keyframes = [KeyframeBoxes(ts, BOXES) for ts in (2, 5, 6, 9)]

    one = dict(predict.predict_video(model, POOL, keyframes, batch_size=1))
    four = dict(predict.predict_video(model, POOL, keyframes, batch_size=4))

    for ts in (2, 5, 6, 9):
        np.testing.assert_allclose(one[ts], four[ts], atol=1e-5)
    assert not np.allclose(one[2], one[9], atol=1e-4)  # different clips, different scores


def test_it_subtracts_the_time_offset(checkpoint: Path) -> None:
    model = load_model(str(checkpoint))
    plain = dict(predict.predict_video(model, POOL, [KeyframeBoxes(3, BOXES)]))
    cut = dict(predict.predict_video(model, POOL, [KeyframeBoxes(903, BOXES)], time_offset=900))
    np.testing.assert_allclose(cut[903], plain[3], atol=1e-6)


def test_it_scores_with_a_slow_only_model(pool_frames: list[np.ndarray]) -> None:
    torch.manual_seed(1)
    config = dataclasses.replace(preset("small"), pathways=1, alpha=1, tau=8)
    model = build_model(config).eval()

    scores = dict(predict.predict_video(model, POOL, [KeyframeBoxes(4, BOXES)]))

    np.testing.assert_allclose(scores[4], reference_scores(model, pool_frames, 4, BOXES), atol=2e-5)


def test_it_returns_empty_scores_for_a_keyframe_without_boxes(checkpoint: Path) -> None:
    model = load_model(str(checkpoint))
    keyframes = [KeyframeBoxes(1, np.zeros((0, 4), np.float32)), KeyframeBoxes(2, BOXES)]
    stats = DecodeStats()

    scores = dict(predict.predict_video(model, POOL, keyframes, stats=stats))

    assert scores[1].shape == (0, 80)
    assert scores[2].shape == (2, 80)
    assert stats.frames_decoded < POOL_FRAMES  # decoding stops once the last clip is complete


def test_it_stops_the_decoding_thread_when_the_caller_stops(checkpoint: Path) -> None:
    model = load_model(str(checkpoint))
    keyframes = [KeyframeBoxes(ts, BOXES) for ts in range(0, 11)]
    stats = DecodeStats()

    results = predict.predict_video(model, POOL, keyframes, batch_size=1, stats=stats)
    first = next(results)
    results.close()

    assert first[0] == 0
    assert not [t for t in threading.enumerate() if t.name == "predict-clips"]
    assert stats.frames_decoded < POOL_FRAMES


def test_it_rejects_bad_keyframes(checkpoint: Path) -> None:
    model = load_model(str(checkpoint))
    with pytest.raises(ValueError, match="keyframe 3 is listed twice"):
        list(predict.predict_video(model, POOL, [KeyframeBoxes(3, BOXES)] * 2))
    with pytest.raises(ValueError, match=r"keyframe 4: boxes must be \(N, 4\)"):
        list(predict.predict_video(model, POOL, [KeyframeBoxes(4, np.zeros((2, 5)))]))


def test_it_reports_a_broken_video_from_the_decoding_thread(
    checkpoint: Path, tmp_path: Path
) -> None:
    model = load_model(str(checkpoint))
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00" * 4096)
    with pytest.raises(ValueError, match="broken.mp4"):
        list(predict.predict_video(model, path, [KeyframeBoxes(1, BOXES)]))


def write_person_boxes(path: Path, video_id: str, timestamps: list[int]) -> None:
    records = [(video_id, ts, *box.tolist(), None, 0.9) for ts in timestamps for box in BOXES]
    records.append(("other", timestamps[0], 0.0, 0.0, 1.0, 1.0, None, 0.5))
    ava.write_ava_csv(path, ava.rows_from_records(records), "person-boxes")


def test_cli_writes_a_prediction_row_for_every_box_and_action(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    boxes, out = tmp_path / "boxes.csv", tmp_path / "pred.csv"
    write_person_boxes(boxes, "pool", [902, 905])
    argv = [str(POOL), "--checkpoint", str(checkpoint), "--boxes", str(boxes), "--out", str(out)]
    argv += ["--time-offset", "900", "--video-id", "pool", "--json"]

    assert predict.cli(argv) == 0

    rows = ava.read_ava_csv(out, "predictions")
    assert len(rows) == 2 * 2 * 80
    assert rows.videos == ("pool",)
    assert sorted(set(rows.timestamp.tolist())) == [902, 905]
    label_ids = list(ava_label_ids())
    assert rows.action[:80].tolist() == label_ids
    model = load_model(str(checkpoint))
    expected = dict(
        predict.predict_video(model, POOL, [KeyframeBoxes(905, BOXES)], time_offset=900)
    )
    written = rows.value[rows.timestamp == 905].reshape(2, 80)
    np.testing.assert_allclose(written, expected[905], atol=1e-6)  # %.6f in the file
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows"] == 320
    assert summary["frames_decoded"] <= 1.05 * summary["frame_count"]


def ava_label_ids() -> tuple[int, ...]:
    from inference.checkpoints import AVA_LABEL_MAP_PATH, read_labelmap

    return read_labelmap(AVA_LABEL_MAP_PATH).ids


def test_cli_rejects_keyframes_outside_the_video(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    boxes, out = tmp_path / "boxes.csv", tmp_path / "pred.csv"
    write_person_boxes(boxes, "pool_30fps", [902])
    argv = [str(POOL), "--checkpoint", str(checkpoint), "--boxes", str(boxes), "--out", str(out)]

    with pytest.raises(SystemExit) as exit_info:
        predict.cli(argv)

    assert exit_info.value.code == 2
    assert "keyframe 902 is at file time 902 s" in capsys.readouterr().err
    assert not out.exists()
