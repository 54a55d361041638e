import pytest
import torch

import inference
from inference.__main__ import main
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


# --- pytorchvideo equivalence ------------------------------------------------------------------


def randomize_batch_norm(model, run):
    """Random BN affine parameters and running statistics of a plausible scale."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    for norm in norms:
        torch.nn.init.uniform_(norm.weight, 0.5, 1.5)
        torch.nn.init.normal_(norm.bias, std=0.1)
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    with torch.no_grad():
        run()  # running statistics of this batch keep activations in range
    for norm in norms:
        norm.running_mean += 0.1 * torch.randn_like(norm.running_mean) * norm.running_var.sqrt()
        norm.running_var *= torch.empty_like(norm.running_var).uniform_(0.7, 1.3)
        norm.momentum = 0.1
    model.eval()


PYTORCHVIDEO_CASES = {
    # hub name: (pathways, detection, head pools resized for a 96x96 clip of 4 Slow/16 Fast
    # frames; the hub builders size them for 224x224 and 8/32 frames)
    "slowfast_r50": (2, False, {"blocks.5.pool.0": (4, 3, 3), "blocks.5.pool.1": (16, 3, 3)}),
    "slowfast_r50_detection": (
        2,
        True,
        {"model.blocks.5.pool.0": (4, 1, 1), "model.blocks.5.pool.1": (16, 1, 1)},
    ),
    "slow_r50": (1, False, {"blocks.5.pool": (4, 3, 3)}),
    "slow_r50_detection": (1, True, {}),  # a 4x16 model: its (4, 1, 1) pool fits already
}


@pytest.mark.parametrize("name", sorted(PYTORCHVIDEO_CASES))
def test_converted_pytorchvideo_models_give_the_same_outputs(name, tmp_path):
    hub = pytest.importorskip("pytorchvideo.models.hub")
    pathways, detection, pools = PYTORCHVIDEO_CASES[name]
    torch.manual_seed(0)
    reference = getattr(hub, name)(pretrained=False)
    for path, kernel in pools.items():
        reference.get_submodule(path).kernel_size = kernel
    slow = torch.randn(2, 3, 4, 96, 96)
    inputs = [slow, torch.randn(2, 3, 16, 96, 96)][:pathways]
    boxes = torch.tensor(
        [[0, 8.0, 4.0, 60.0, 90.0], [1, 30.5, 10.0, 95.0, 70.0], [1, 0, 0, 96, 96]]
    )

    def run_reference():
        # pytorchvideo's multi-pathway blocks replace the list items they are given: pass a copy.
        args = (list(inputs) if pathways == 2 else inputs[0],) + ((boxes,) if detection else ())
        return reference(*args)

    randomize_batch_norm(reference, run_reference)
    # pytorchvideo hub files hold {"model_state": state_dict}.
    source = tmp_path / f"{name}.pyth"
    torch.save({"model_state": reference.state_dict()}, source)
    output = tmp_path / f"{name}.pt"
    assert main(["convert", "--from", "pytorchvideo", str(source), str(output)]) == 0
    model = inference.load_model(str(output))
    assert model.config.pathways == pathways
    assert model.config.head == ("detection" if detection else "classification")
    if detection:
        assert model.config.aligned is False and model.config.res5_dilation == 2
    with torch.no_grad():
        expected = run_reference()
        actual = model(inputs, boxes if detection else None)
    assert actual.shape == expected.shape
    assert expected.abs().max() > 1e-2  # a meaningful comparison, not of zeros
    assert (actual - expected).abs().max() <= 1e-4
