import json

import pytest
import torch

from inference.__main__ import main
from inference.flops import cli, count_macs, preset_complexity
from inference.models import PRESETS, build_model, preset


@pytest.mark.parametrize(
    ("name", "gmacs", "params_m"),
    [
        # Table 2 of the SlowFast paper (Kinetics-400, one 256x256 view).
        ("slowfast_r50_4x16", 36.1, 34.48),
        ("slowfast_r50_8x8", 65.7, 34.57),
        ("slow_r50_8x8", 54.5, 32.45),
        ("slowfast_r101_8x8", 106.0, 53.7),
    ],
)
def test_paper_gflops_and_parameters(name, gmacs, params_m):
    complexity = preset_complexity(PRESETS[name], 256)
    assert complexity.gmacs == pytest.approx(gmacs, rel=0.005)
    assert complexity.params_m == pytest.approx(params_m, rel=0.005)


def test_fast_pathway_is_about_a_fifth_of_the_compute():
    # The paper: the Fast pathway takes about 20% of the computation (4x16, alpha 8).
    assert 0.15 < preset_complexity(PRESETS["slowfast_r50_4x16"]).fast_share < 0.25
    assert preset_complexity(PRESETS["slow_r50_8x8"]).fast_share == 0.0


def test_counts_follow_layer_shapes():
    # small at 64x64: count by hand from what each conv and linear layer outputs.
    model = build_model(preset("small")).eval()
    inputs = [torch.randn(1, 3, 4, 64, 64), torch.randn(1, 3, 16, 64, 64)]
    boxes = torch.tensor([[0.0, 0.0, 0.0, 64.0, 64.0]])
    expected = {"all": 0, "fast": 0}
    fast_ids = {id(m) for m in model.fast.modules()} | {id(m) for m in model.laterals.modules()}

    def hook(module, _inputs, output):
        if isinstance(module, torch.nn.Conv3d):
            c_out, t, h, w = output.shape[1:]
            k_t, k_h, k_w = module.weight.shape[2:]
            macs = c_out * t * h * w * module.weight.shape[1] * k_t * k_h * k_w
        else:
            macs = module.weight.numel() * output.shape[0]
        expected["all"] += macs
        if id(module) in fast_ids:
            expected["fast"] += macs

    handles = [
        module.register_forward_hook(hook)
        for module in model.modules()
        if isinstance(module, torch.nn.Conv3d | torch.nn.Linear)
    ]
    with torch.no_grad():
        model(inputs, boxes)
    for handle in handles:
        handle.remove()
    complexity = count_macs(model, inputs, boxes)
    assert complexity.macs == expected["all"] > 0
    assert complexity.fast_macs == expected["fast"] > 0
    assert complexity.params == sum(p.numel() for p in model.parameters())
    # Compute grows with the square of the input size.
    larger = count_macs(
        model, [torch.randn(1, 3, 4, 128, 128), torch.randn(1, 3, 16, 128, 128)], boxes
    )
    assert larger.macs == pytest.approx(4 * complexity.macs, rel=0.05)


def test_cli_json_is_the_last_line(capsys):
    assert main(["flops", "--preset", "slowfast_r50_8x8", "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    assert set(result) == {"gmacs", "params_m", "fast_share"}
    assert result["gmacs"] == pytest.approx(65.7, rel=0.005)
    assert result["params_m"] == pytest.approx(34.57, rel=0.005)


def test_cli_text_and_bad_size(capsys):
    assert cli(["--preset", "small", "--size", "128"]) == 0
    assert "GMACs" in capsys.readouterr().out
    assert cli(["--preset", "small", "--size", "8"]) == 2
    assert "size 8" in capsys.readouterr().err
