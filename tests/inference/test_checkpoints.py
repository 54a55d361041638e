import dataclasses
import hashlib
import json
import pickle
import re

import numpy as np
import pytest
import torch

import inference
from inference.__main__ import main
from inference.ava import ActionLabel, LabelMap
from inference.checkpoints import (
    PRETRAINED,
    convert_cli,
    fetch_cli,
    load_checkpoint,
    save_checkpoint,
)
from inference.models import PRESETS, SlowFastConfig, build_model, preset


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
    assert len(checkpoint["label_map"].actions) == 80
    assert checkpoint["label_map"].actions[0] == ActionLabel(
        1, "bend/bow (at the waist)", "PERSON_MOVEMENT"
    )
    assert loaded.label_map == checkpoint["label_map"]
    # The file holds only plain types: it loads with weights_only and its config is a plain dict.
    raw = torch.load(path, weights_only=True)
    assert raw["config"]["nonlocal_blocks"] == [[], [], [], []]
    assert raw["label_map"][0] == {
        "id": 1,
        "name": "bend/bow (at the waist)",
        "type": "PERSON_MOVEMENT",
    }


def test_label_map_must_match_the_number_of_classes(tmp_path):
    model = build_model(preset("small"))
    with pytest.raises(ValueError, match="2 entries"):
        labels = LabelMap((ActionLabel(1, "a"), ActionLabel(2, "b")))
        save_checkpoint(tmp_path / "x.pt", model, label_map=labels)


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


# --- PySlowFast .pyth and Caffe2 .pkl ----------------------------------------------------------

# A slim R50 SlowFast with AVA head, non-local blocks and "R101_50_50"-style temporal kernels:
# every feature the converters read, at a size that runs in a second.
SLIM = SlowFastConfig(
    depth=50,
    width=16,
    alpha=4,
    tau=8,
    num_frames=4,
    fusion_kernel=5,
    temporal_kernel_blocks=(3, 4, 4, 3),
    nonlocal_blocks=((), (), (1, 4), ()),
    nonlocal_pool=(2, 2, 2),
    head="detection",
    num_classes=80,
    res5_dilation=2,
    aligned=False,
    crop_size=224,
)
PYSLOWFAST_CFG = """
MODEL:
  ARCH: slowfast
  MODEL_NAME: SlowFast
  NUM_CLASSES: 80
  DROPOUT_RATE: 0.5
RESNET:
  DEPTH: 50
  WIDTH_PER_GROUP: 16
  NUM_GROUPS: 1
  TRANS_FUNC: bottleneck_transform
  STRIDE_1X1: False
  NUM_BLOCK_TEMP_KERNEL: [[3, 3], [4, 4], [4, 4], [3, 3]]
  SPATIAL_DILATIONS: [[1, 1], [1, 1], [1, 1], [2, 2]]
  SPATIAL_STRIDES: [[1, 1], [2, 2], [2, 2], [1, 1]]
NONLOCAL:
  LOCATION: [[[], []], [[], []], [[1, 4], []], [[], []]]
  GROUP: [[1, 1], [1, 1], [1, 1], [1, 1]]
  INSTANTIATION: dot_product
  POOL: [[[2, 2, 2], [2, 2, 2]], [[2, 2, 2], [2, 2, 2]], [[2, 2, 2], [2, 2, 2]],
         [[2, 2, 2], [2, 2, 2]]]
SLOWFAST:
  ALPHA: 4
  BETA_INV: 8
  FUSION_CONV_CHANNEL_RATIO: 2
  FUSION_KERNEL_SZ: 5
DATA:
  NUM_FRAMES: 16
  SAMPLING_RATE: 2
  TEST_CROP_SIZE: 224
  MEAN: [0.45, 0.45, 0.45]
  STD: [0.225, 0.225, 0.225]
DETECTION:
  ENABLE: True
  ALIGNED: {aligned}
  ROI_XFORM_RESOLUTION: 7
  SPATIAL_SCALE_FACTOR: 16
"""


def pyslowfast_name(key: str) -> str:
    """PySlowFast's module name for one of our keys (video_model_builder.SlowFast layout)."""
    pathway = {"slow": "0", "fast": "1"}
    if m := re.fullmatch(r"(slow|fast)\.stem\.(conv|bn)\.(.+)", key):
        return f"s1.pathway{pathway[m[1]]}_stem.{m[2]}.{m[3]}"
    if m := re.fullmatch(r"laterals\.(\d)\.(conv|bn)\.(.+)", key):
        return f"s{int(m[1]) + 1}_fuse.{'conv_f2s' if m[2] == 'conv' else 'bn'}.{m[3]}"
    if m := re.fullmatch(r"(slow|fast)\.res(\d)\.blocks\.(\d+)\.(conv|bn)([123])\.(.+)", key):
        branch = "abc"[int(m[5]) - 1] + ("_bn" if m[4] == "bn" else "")
        return f"s{m[2]}.pathway{pathway[m[1]]}_res{m[3]}.branch2.{branch}.{m[6]}"
    if m := re.fullmatch(r"(slow|fast)\.res(\d)\.blocks\.(\d+)\.downsample\.([01])\.(.+)", key):
        branch = "branch1" + ("_bn" if m[4] == "1" else "")
        return f"s{m[2]}.pathway{pathway[m[1]]}_res{m[3]}.{branch}.{m[5]}"
    if m := re.fullmatch(r"slow\.res(\d)\.nonlocals\.(\d+)\.(theta|phi|g|out|bn)\.(.+)", key):
        layer = "bn" if m[3] == "bn" else f"conv_{m[3]}"
        return f"s{m[1]}.pathway0_nonlocal{m[2]}.{layer}.{m[4]}"
    if m := re.fullmatch(r"proj\.(weight|bias)", key):
        return f"head.projection.{m[1]}"
    raise AssertionError(key)


def caffe2_name(key: str, config: SlowFastConfig) -> str | None:
    """The Caffe2 blob name (PySlowFast model zoo .pkl) of one of our keys; None: not stored."""
    if key.endswith("num_batches_tracked"):
        return None
    bn = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
    if m := re.fullmatch(r"(slow|fast)\.stem\.(conv|bn)\.(.+)", key):
        prefix = "t_" if m[1] == "fast" else ""
        return f"{prefix}conv1_w" if m[2] == "conv" else f"{prefix}res_conv1_bn_{bn[m[3]]}"
    if m := re.fullmatch(r"laterals\.(\d)\.(conv|bn)\.(.+)", key):
        stage = int(m[1])
        last = config.stage_blocks[stage - 1] - 1 if stage else 0
        base = (
            "t_pool1_subsample" if stage == 0 else f"t_res{stage + 1}_{last}_branch2c_bn_subsample"
        )
        return f"{base}_w" if m[2] == "conv" else f"{base}_bn_{bn[m[3]]}"
    if m := re.fullmatch(r"(slow|fast)\.res(\d)\.blocks\.(\d+)\.(conv|bn)([123])\.(.+)", key):
        base = f"{'t_' if m[1] == 'fast' else ''}res{m[2]}_{m[3]}_branch2{'abc'[int(m[5]) - 1]}"
        return f"{base}_w" if m[4] == "conv" else f"{base}_bn_{bn[m[6]]}"
    if m := re.fullmatch(r"(slow|fast)\.res(\d)\.blocks\.(\d+)\.downsample\.([01])\.(.+)", key):
        base = f"{'t_' if m[1] == 'fast' else ''}res{m[2]}_{m[3]}_branch1"
        return f"{base}_w" if m[4] == "0" else f"{base}_bn_{bn[m[5]]}"
    if m := re.fullmatch(r"slow\.res(\d)\.nonlocals\.(\d+)\.(theta|phi|g|out|bn)\.(.+)", key):
        base = f"nonlocal_conv{m[1]}_{m[2]}_{m[3]}"
        if m[3] == "bn":
            return f"{base}_{bn[m[4]]}"
        return f"{base}_{'w' if m[4] == 'weight' else 'b'}"
    if m := re.fullmatch(r"proj\.(weight|bias)", key):
        return f"pred_{'w' if m[1] == 'weight' else 'b'}"
    raise AssertionError(key)


def slim_model_and_inputs():
    torch.manual_seed(1)
    model = build_model(SLIM)
    inputs = [torch.randn(2, 3, 4, 64, 64), torch.randn(2, 3, 16, 64, 64)]
    boxes = torch.tensor([[0, 3.0, 5.0, 40.0, 60.0], [1, 10.5, 0.0, 64.0, 50.0]])
    randomize_batch_norm(model, lambda: model(inputs, boxes))
    for name, param in model.named_parameters():
        if name.endswith("nonlocals.1.bn.weight") or name.endswith("nonlocals.4.bn.weight"):
            torch.nn.init.uniform_(param, 0.5, 1.5)  # the non-local blocks shape the output
    return model, inputs, boxes


@pytest.mark.parametrize("aligned", [False, True])
def test_pyslowfast_pyth_uses_its_cfg(tmp_path, aligned):
    model, inputs, boxes = slim_model_and_inputs()
    state = {pyslowfast_name(k): v for k, v in model.state_dict().items()}
    # Names as PySlowFast's modules spell them.
    for key in (
        "s1.pathway1_stem.conv.weight",
        "s2_fuse.conv_f2s.weight",
        "s4.pathway0_nonlocal4.conv_theta.bias",
        "s4.pathway0_nonlocal1.bn.running_var",
        "s5.pathway1_res2.branch2.c_bn.running_var",
        "s3.pathway0_res0.branch1_bn.weight",
        "head.projection.weight",
    ):
        assert key in state
    source = tmp_path / "SLOWFAST_SLIM.pyth"
    cfg = PYSLOWFAST_CFG.format(aligned=aligned)
    torch.save({"epoch": 20, "model_state": state, "cfg": cfg}, source)
    output = tmp_path / "slim.pt"
    assert main(["convert", "--from", "pyslowfast", str(source), str(output)]) == 0
    converted = inference.load_model(str(output))
    assert converted.config == dataclasses.replace(SLIM, aligned=aligned)
    assert converted.preprocess["short_side"] == 224
    reference = model if not aligned else _with_config(model, converted.config)
    with torch.no_grad():
        assert (converted(inputs, boxes) - reference.eval()(inputs, boxes)).abs().max() <= 1e-5


def _with_config(model, config):
    other = build_model(config)
    other.load_state_dict(model.state_dict())
    return other


def test_pyslowfast_caffe2_pkl_from_weights_and_preset(tmp_path):
    model, inputs, boxes = slim_model_and_inputs()
    blobs = {}
    for key, value in model.state_dict().items():
        name = caffe2_name(key, SLIM)
        if name is not None:
            blobs[name] = value.numpy().copy()
    for name in (
        "res_conv1_bn_riv",
        "t_pool1_subsample_bn_rm",
        "t_res4_5_branch2c_bn_subsample_w",
        "nonlocal_conv4_1_theta_w",
        "res5_2_branch2c_bn_s",
        "t_res2_0_branch1_w",
        "pred_w",
    ):
        assert name in blobs
    # Model-zoo files also hold solver state.
    blobs["conv1_w_momentum"] = np.zeros(3, dtype=np.float32)
    blobs["lr"] = np.array([0.1], dtype=np.float32)
    blobs["model_iter"] = np.array([1000])
    source = tmp_path / "SLOWFAST_SLIM.pkl"
    with source.open("wb") as f:
        pickle.dump({"blobs": blobs}, f, protocol=2)
    output = tmp_path / "slim.pt"
    # alpha, tau, T and the head geometry are recorded nowhere in a .pkl: the preset gives them.
    argv = ["--from", "pyslowfast", str(source), str(output), "--preset", "slowfast_r50_8x8_ava"]
    assert convert_cli(argv) == 0
    converted = inference.load_model(str(output))
    expected = dataclasses.replace(SLIM, num_frames=8, crop_size=256, fusion_kernel=5)
    assert converted.config == expected
    with torch.no_grad():
        assert (converted(inputs, boxes) - model.eval()(inputs, boxes)).abs().max() <= 1e-5


def test_strict_conversion_lists_missing_unexpected_and_mismatched_keys(tmp_path, capsys):
    model, _, _ = slim_model_and_inputs()
    state = {pyslowfast_name(k): v for k, v in model.state_dict().items()}
    del state["s3.pathway1_res2.branch2.b.weight"]
    state["s9.pathway0_res0.branch2.a.weight"] = torch.zeros(1)
    state["head.projection.bias"] = torch.zeros(81)
    source = tmp_path / "broken.pyth"
    torch.save({"model_state": state, "cfg": PYSLOWFAST_CFG.format(aligned=False)}, source)
    assert convert_cli(["--from", "pyslowfast", str(source), str(tmp_path / "x.pt")]) == 1
    error = capsys.readouterr().err
    assert "missing: fast.res3.blocks.2.conv2.weight" in error
    assert "unexpected: s9.pathway0_res0.branch2.a.weight" in error
    assert "shape mismatch: head.projection.bias (81,) -> proj.bias (80,)" in error
    assert not (tmp_path / "x.pt").exists()


def test_unsupported_pyslowfast_architecture_is_named(tmp_path, capsys):
    source = tmp_path / "x3d.pyth"
    torch.save(
        {"model_state": {"s1.conv.weight": torch.zeros(1)}, "cfg": "MODEL:\n  ARCH: x3d\n"}, source
    )
    assert convert_cli(["--from", "pyslowfast", str(source), str(tmp_path / "x.pt")]) == 1
    assert "MODEL.ARCH 'x3d'" in capsys.readouterr().err


# --- fetch-pretrained --------------------------------------------------------------------------


def test_fetch_pretrained_downloads_verifies_and_converts(tmp_path, capsys):
    resnet = pytest.importorskip("pytorchvideo.models.resnet")
    torch.manual_seed(0)
    # pytorchvideo's slow_r50_detection layout, slimmed to 8 stem channels for speed.
    reference = resnet.create_resnet_with_roi_head(stem_dim_out=8)
    published = tmp_path / "published" / "SLOW_4x16_R50_DETECTION.pyth"
    published.parent.mkdir()
    torch.save({"model_state": reference.state_dict()}, published)
    cache = tmp_path / "cache"
    argv = ["slow_r50_detection", "--cache", str(cache), "--url", published.as_uri(), "--json"]
    assert fetch_cli(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    model = inference.load_model(result["checkpoint"])
    assert model.config.pathways == 1 and model.config.width == 8
    assert model.config.head == "detection" and model.config.num_frames == 4
    assert model.config.tau == 16
    checksums = json.loads((cache / "checksums.json").read_text())
    assert (
        checksums["slow_r50_detection"]["sha256"]
        == hashlib.sha256(published.read_bytes()).hexdigest()
    )
    # Again: served from the cache and checked against the recorded sha256.
    published.unlink()
    assert fetch_cli(argv) == 0
    capsys.readouterr()
    # A cached file that changed since it was recorded is refused.
    download = cache / "downloads" / "slow_r50_detection.pyth"
    tampered = bytearray(download.read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    download.write_bytes(bytes(tampered))
    assert fetch_cli(argv) == 1
    assert "does not match" in capsys.readouterr().err


def test_fetch_pretrained_knows_the_official_checkpoints():
    assert {
        "slowfast_r50",
        "slowfast_r50_detection",
        "slow_r50",
        "slow_r50_detection",
        "SLOWFAST_32x2_R101_50_50",
    } <= set(PRETRAINED)
    for entry in PRETRAINED.values():
        assert entry.url.startswith("https://dl.fbaipublicfiles.com/")
        assert entry.preset in PRESETS


def test_pytorchvideo_file_with_a_missing_weight_is_refused_by_name(tmp_path, capsys):
    resnet = pytest.importorskip("pytorchvideo.models.resnet")
    state = resnet.create_resnet_with_roi_head(stem_dim_out=8).state_dict()
    del state["model.blocks.3.res_blocks.0.branch2.conv_a.weight"]
    source = tmp_path / "partial.pyth"
    torch.save({"model_state": state}, source)
    assert convert_cli(["--from", "pytorchvideo", str(source), str(tmp_path / "x.pt")]) == 1
    assert "missing: slow.res4.blocks.0.conv1.weight" in capsys.readouterr().err
