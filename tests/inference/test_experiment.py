"""`python -m inference experiment slowfast-vs-slow` at toy size: both models, chart and JSON."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

from inference import experiment
from inference.experiment import ExperimentConfig, class_groups, slowfast_vs_slow
from inference.synth.actions import ACTION_BY_KEY, MOTION_ONLY
from inference.train import TrainConfig

TOY = ExperimentConfig(
    videos=3,
    val_videos=1,
    seconds=5,
    size="128x96",
    training=TrainConfig(epochs=1, batch_size=2, workers=0),
)


def test_a_toy_run_writes_both_checkpoints_the_chart_and_the_json(tmp_path):
    summary = slowfast_vs_slow(tmp_path, TOY)

    assert (tmp_path / "small_slow.pt").stat().st_size > 0
    assert (tmp_path / "small.pt").stat().st_size > 0
    written = json.loads((tmp_path / "per_class.json").read_text())
    assert written == json.loads(json.dumps(summary))
    models = written["models"]
    assert set(models) == {"small_slow", "small"}
    for model in models.values():
        assert 0.0 <= model["mAP"] <= 1.0
        assert model["per_class"]  # per-class AP of the held-out video
    # The chart: one bar pair per class with ground truth, most ground truth first.
    svg = ET.fromstring((tmp_path / "figure.svg").read_text())
    groups = [g for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("data-gt-count")]
    counts = [int(g.get("data-gt-count", "0")) for g in groups]
    assert counts == sorted(counts, reverse=True) and counts
    assert len(groups) == len(written["classes"])
    legend = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    assert "Slow-only (small_slow)" in legend and "SlowFast (small)" in legend
    assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_class_groups_split_motion_only_classes_from_the_others():
    walk, sit = ACTION_BY_KEY["walk"].label_id, ACTION_BY_KEY["sit"].label_id
    assert "walk" in MOTION_ONLY and "sit" not in MOTION_ONLY
    groups = class_groups({walk: 0.8, sit: 0.2, ACTION_BY_KEY["run"].label_id: None})
    assert groups["motion_only"] == 0.8
    assert groups["other"] == 0.2
    assert class_groups({})["motion_only"] is None
    assert not math.isnan(groups["other"] or 0.0)


def test_the_cli_takes_the_training_options_of_python_m_inference_train(tmp_path, monkeypatch):
    runs = []

    def record(outdir, config, log=None):
        runs.append(config)
        return {"models": {}}

    monkeypatch.setattr(experiment, "slowfast_vs_slow", record)
    assert experiment.cli(["slowfast-vs-slow", str(tmp_path)]) == 0
    assert experiment.cli(["slowfast-vs-slow", str(tmp_path), "--lr=0.1", "--freeze=bn"]) == 0
    assert runs[0] == ExperimentConfig()
    assert runs[0].training == TrainConfig(epochs=6, batch_size=8, workers=1)
    assert runs[1].training == TrainConfig(epochs=6, batch_size=8, workers=1, lr=0.1, freeze="bn")
    assert experiment.cli(["slowfast-vs-slow", str(tmp_path), "--epochs=-1"]) == 1
