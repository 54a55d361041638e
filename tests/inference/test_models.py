import dataclasses

import pytest
import torch

from inference.models import PRESETS, SlowFastConfig, build_model, detection_loss, preset
from inference.models.slowfast import Conv3d, NonLocal

ISSUE_PRESETS = {
    "slowfast_r50_4x16",
    "slowfast_r50_8x8",
    "slowfast_r101_8x8",
    "slow_r50_4x16",
    "slow_r50_8x8",
    "slowfast_r50_8x8_ava",
    "slowfast_r101_nl_8x8_ava",
    "slow_r50_4x16_ava",
    "small",
    "small_slow",
}


def clip(config: SlowFastConfig, batch: int, frames: int, size: int) -> list[torch.Tensor]:
    """Random pathway tensors with `frames` Slow frames."""
    slow = torch.randn(batch, 3, frames, size, size)
    if config.pathways == 1:
        return [slow]
    return [slow, torch.randn(batch, 3, frames * config.alpha, size, size)]


def boxes_for(batch: int, size: int) -> torch.Tensor:
    rows = []
    for b in range(batch):
        rows.append([b, 0, 0, size, size])
        rows.append([b, size * 0.2, size * 0.1, size * 0.6, size * 0.9])
    return torch.tensor(rows, dtype=torch.float32)


def calibrate_batch_norm(model: torch.nn.Module, inputs, boxes) -> None:
    """Running BN statistics from one batch, then eval mode.

    With freshly initialised weights and default running statistics (mean 0, var 1), eval-mode
    activations double with every residual block and overflow in a 101-layer network.
    """
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: exactly this batch's statistics
    model.train()
    with torch.no_grad():
        model(inputs, boxes if model.config.head == "detection" else None)
    model.eval()


def test_presets_are_the_ones_the_issue_names():
    assert set(PRESETS) == ISSUE_PRESETS


@pytest.mark.parametrize("name", sorted(ISSUE_PRESETS))
def test_forward_shape_and_no_nans(name):
    torch.manual_seed(0)
    config = PRESETS[name]
    model = build_model(config)
    size = 64
    inputs = clip(config, batch=2, frames=2, size=size)
    boxes = boxes_for(2, size)
    calibrate_batch_norm(model, inputs, boxes)
    with torch.inference_mode():
        if config.head == "detection":
            out = model(inputs, boxes)
            assert out.shape == (len(boxes), config.num_classes)
            assert ((out >= 0) & (out <= 1)).all()
        else:
            out = model(inputs)
            assert out.shape == (2, config.num_classes)
    assert torch.isfinite(out).all()
    assert model.config is config


@pytest.mark.parametrize("name", ["small", "small_slow", "slowfast_r50_8x8", "slow_r50_4x16_ava"])
def test_every_parameter_receives_a_gradient(name):
    torch.manual_seed(0)
    config = PRESETS[name]
    model = build_model(config).train()
    size = 64 if name != "small" else 96
    inputs = clip(config, batch=2, frames=2, size=size)
    if config.head == "detection":
        boxes = boxes_for(2, size)
        logits = model.forward_head(model.forward_features(inputs), boxes)
        targets = (torch.rand(len(boxes), config.num_classes) > 0.8).float()
        loss = detection_loss(logits, targets)
    else:
        logits = model.forward_head(model.forward_features(inputs))
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([1, 3]))
    loss.backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, param_name


def stage_shapes(config: SlowFastConfig, size: int) -> dict[str, tuple[int, ...]]:
    """Output shapes (C, T, H, W) of every stem and res stage, computed on the meta device."""
    with torch.device("meta"):
        model = build_model(config)
        inputs = clip(config, batch=1, frames=config.num_frames, size=size)
    shapes = {}
    pathways = [("slow", model.slow)] + ([("fast", model.fast)] if model.fast else [])
    for pathway, module in pathways:
        for stage in ("stem", "res2", "res3", "res4", "res5"):

            def hook(_m, _i, out, key=f"{pathway}.{stage}"):
                shapes[key] = tuple(out.shape[1:])

            getattr(module, stage).register_forward_hook(hook)
    with torch.no_grad():
        model.forward_features(inputs)
    return shapes


def test_stage_shapes_follow_table_1_of_the_paper():
    # Table 1: SlowFast R50, T x tau = 4 x 16, alpha 8, beta 1/8, 224x224 input.
    shapes = stage_shapes(PRESETS["slowfast_r50_4x16"], 224)
    assert shapes == {
        "slow.stem": (64, 4, 56, 56),
        "slow.res2": (256, 4, 56, 56),
        "slow.res3": (512, 4, 28, 28),
        "slow.res4": (1024, 4, 14, 14),
        "slow.res5": (2048, 4, 7, 7),
        "fast.stem": (8, 32, 56, 56),
        "fast.res2": (32, 32, 56, 56),
        "fast.res3": (64, 32, 28, 28),
        "fast.res4": (128, 32, 14, 14),
        "fast.res5": (256, 32, 7, 7),
    }


def test_detection_presets_keep_res5_at_stride_16():
    shapes = stage_shapes(PRESETS["slowfast_r50_8x8_ava"], 256)
    assert shapes["slow.res5"] == (2048, 8, 16, 16)
    assert shapes["fast.res5"] == (256, 32, 16, 16)
    res5 = build_model(PRESETS["slowfast_r50_8x8_ava"]).slow.res5.blocks[0].conv2
    assert res5.dilation == (1, 2, 2) and res5.stride == (1, 1, 1)


def test_temporal_kernels_and_lateral_connections_per_table_1():
    with torch.device("meta"):
        model = build_model(PRESETS["slowfast_r50_8x8"])
    assert model.slow.stem.conv.kernel_size == (1, 7, 7)
    assert model.fast.stem.conv.kernel_size == (5, 7, 7)
    slow_kernels = [
        getattr(model.slow, s).blocks[0].conv1.kernel_size[0]
        for s in ("res2", "res3", "res4", "res5")
    ]
    fast_kernels = [
        getattr(model.fast, s).blocks[0].conv1.kernel_size[0]
        for s in ("res2", "res3", "res4", "res5")
    ]
    assert slow_kernels == [1, 1, 3, 3]
    assert fast_kernels == [3, 3, 3, 3]
    for lateral, fast_channels in zip(model.laterals, (8, 32, 64, 128), strict=True):
        assert lateral.conv.in_channels == fast_channels
        assert lateral.conv.out_channels == 2 * fast_channels
        assert lateral.conv.kernel_size == (7, 1, 1)
        assert lateral.conv.stride == (4, 1, 1)


def test_r101_nonlocal_preset_places_blocks_like_pyslowfast():
    with torch.device("meta"):
        model = build_model(PRESETS["slowfast_r101_nl_8x8_ava"])
    res4 = model.slow.res4
    assert len(res4.blocks) == 23
    assert sorted(int(i) for i in res4.nonlocals) == [6, 13, 20]
    assert res4.nonlocals["6"].pool == (2, 2, 2)
    assert res4.nonlocals["6"].theta.out_channels == 512
    assert not model.fast.res4.nonlocals
    kernels = [block.conv1.kernel_size[0] for block in res4.blocks]
    assert kernels == [3] * 6 + [1] * 17
    assert model.laterals[0].conv.kernel_size == (5, 1, 1)


def test_nonlocal_block_matches_its_definition():
    torch.manual_seed(0)
    block = NonLocal(16, 8, (2, 2, 2)).eval()
    torch.nn.init.normal_(block.bn.weight)  # a non-zero response, so the test can fail
    x = torch.randn(1, 16, 4, 6, 6)
    with torch.no_grad():
        theta = block.theta(x).reshape(8, -1)  # (C', THW = 144)
        pooled = torch.nn.functional.max_pool3d(x, 2)
        phi = block.phi(pooled).reshape(8, -1)  # (C', 18)
        g = block.g(pooled).reshape(8, -1)
        weights = theta.T @ phi / phi.shape[1]  # dot product over the number of keys
        response = (weights @ g.T).T.reshape(1, 8, 4, 6, 6)
        expected = x + block.bn(block.out(response))
        assert torch.allclose(block(x), expected, atol=1e-5)
        assert not torch.allclose(block(x), x, atol=1e-3)


def test_detection_output_is_sigmoid_of_head_logits():
    torch.manual_seed(0)
    model = build_model(preset("small")).eval()
    inputs = clip(model.config, batch=2, frames=4, size=96)
    boxes = boxes_for(2, 96)
    with torch.no_grad():
        probabilities = model(inputs, boxes)
        logits = model.forward_head(model.forward_features(inputs), boxes)
    assert torch.allclose(probabilities, logits.sigmoid())
    # Boxes of the same clip see different regions, so they get different scores.
    assert not torch.allclose(probabilities[0], probabilities[1])


def test_detection_needs_boxes():
    model = build_model(preset("small")).eval()
    with pytest.raises(ValueError, match="boxes"):
        model(clip(model.config, batch=1, frames=4, size=64))


def test_fast_frames_must_be_alpha_times_slow_frames():
    model = build_model(preset("small")).eval()
    slow = torch.randn(1, 3, 4, 64, 64)
    with pytest.raises(ValueError, match="alpha 4"):
        model([slow, torch.randn(1, 3, 12, 64, 64)], boxes_for(1, 64))
    with pytest.raises(ValueError, match="2 pathway"):
        model([slow], boxes_for(1, 64))


@pytest.mark.parametrize(
    ("changes", "value"),
    [
        ({"depth": 34}, "34"),
        ({"head": "segmentation"}, "segmentation"),
        ({"pathways": 1, "alpha": 4}, "alpha 4"),
        ({"pathways": 3}, "pathways 3"),
        ({"res5_dilation": 4}, "res5_dilation 4"),
        ({"fusion_kernel": 4}, "fusion_kernel 4"),
        ({"nonlocal_blocks": ((), (), (6,), ())}, "nonlocal_blocks"),
    ],
)
def test_unsupported_combinations_raise_value_error(changes, value):
    with pytest.raises(ValueError, match=value):
        dataclasses.replace(preset("slowfast_r50_8x8"), **changes)


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="slowfast_r18"):
        preset("slowfast_r18")


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation"),
    [
        ((1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1)),  # bottleneck 1x1x1
        ((1, 1, 1), (1, 2, 2), (0, 0, 0), (1, 1, 1)),  # strided shortcut
        ((1, 3, 3), (1, 2, 2), (0, 1, 1), (1, 1, 1)),  # spatial 3x3
        ((1, 3, 3), (1, 1, 1), (0, 2, 2), (1, 2, 2)),  # dilated res5
        ((3, 1, 1), (1, 1, 1), (1, 0, 0), (1, 1, 1)),  # temporal 3x1x1
        ((7, 1, 1), (4, 1, 1), (3, 0, 0), (1, 1, 1)),  # lateral connection
        ((1, 7, 7), (1, 2, 2), (0, 3, 3), (1, 1, 1)),  # Slow stem
        ((5, 7, 7), (1, 2, 2), (2, 3, 3), (1, 1, 1)),  # Fast stem (a real 3D kernel)
    ],
)
@pytest.mark.parametrize("channels_last", [True, False])
def test_conv3d_matches_torch_conv3d_forward_and_backward(
    kernel, stride, padding, dilation, channels_last
):
    torch.manual_seed(0)
    conv = Conv3d(6, 5, kernel, stride=stride, padding=padding, dilation=dilation, bias=True)
    x = torch.randn(2, 6, 8, 13, 11)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    x.requires_grad_(True)
    out = conv(x)
    expected = torch.nn.functional.conv3d(x, conv.weight, conv.bias, stride, padding, dilation)
    assert out.shape == expected.shape
    assert torch.allclose(out, expected, atol=1e-5)
    grad = torch.randn_like(out)
    ours = torch.autograd.grad(out, (x, conv.weight, conv.bias), grad)
    reference = torch.autograd.grad(expected, (x, conv.weight, conv.bias), grad)
    for a, b in zip(ours, reference, strict=True):
        assert torch.allclose(a, b, atol=1e-4)


def test_small_slow_is_the_slow_pathway_of_small():
    slowfast = build_model(preset("small"))
    slow_only = build_model(preset("small_slow"))
    assert slow_only.fast is None
    # The Slow pathway without the lateral connections' extra input channels.
    fused = {
        name
        for name, param in slowfast.slow.named_parameters()
        if name in dict(slow_only.slow.named_parameters())
        and param.shape != dict(slow_only.slow.named_parameters())[name].shape
    }
    assert fused, "the SlowFast Slow pathway takes the Fast pathway's lateral channels"
    assert set(dict(slow_only.slow.named_parameters())) == set(
        dict(slowfast.slow.named_parameters())
    )
    assert preset("small_slow").tau == preset("small").tau
    assert preset("small_slow").num_frames == preset("small").num_frames
    assert preset("small_slow").crop_size == preset("small").crop_size
