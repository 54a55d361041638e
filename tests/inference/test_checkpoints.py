import pytest
import torch

import inference
from inference.checkpoints import load_checkpoint, save_checkpoint
from inference.models import build_model, preset


def test_save_then_load_model_gives_the_same_scores(tmp_path):
    torch.manual_seed(0)
    model = build_model(preset("small")).eval()
    path = tmp_path / "small.pt"
    save_checkpoint(path, model, metrics={"mAP": 0.25})
    loaded = inference.load_model(str(path))
    assert not loaded.training
    assert loaded.config == model.config
    inputs = [torch.randn(1, 3, 4, 64, 64), torch.randn(1, 3, 16, 64, 64)]
    boxes = torch.tensor([[0, 4.0, 4.0, 40.0, 60.0]])
    with torch.no_grad():
        assert torch.equal(loaded(inputs, boxes), model(inputs, boxes))
    checkpoint = load_checkpoint(path)
    assert checkpoint["metrics"] == {"mAP": 0.25}
    assert checkpoint["preprocess"] == {"short_side": 128, "mean": [0.45] * 3, "std": [0.225] * 3}
    assert len(checkpoint["label_map"]) == 80
    assert checkpoint["label_map"][0] == {
        "id": 1,
        "name": "bend/bow (at the waist)",
        "type": "PERSON_MOVEMENT",
    }
    assert loaded.label_map == checkpoint["label_map"]
    # The file holds only plain types: it loads with weights_only and its config is a plain dict.
    raw = torch.load(path, weights_only=True)
    assert raw["config"]["nonlocal_blocks"] == [[], [], [], []]


def test_label_map_must_match_the_number_of_classes(tmp_path):
    model = build_model(preset("small"))
    with pytest.raises(ValueError, match="2 entries"):
        save_checkpoint(tmp_path / "x.pt", model, label_map=[{"id": 1}, {"id": 2}])


def test_a_file_that_is_not_our_checkpoint_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model_state": {}}, path)
    with pytest.raises(ValueError, match="not an ava-annotator checkpoint"):
        load_checkpoint(path)
