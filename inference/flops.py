"""Multiply-adds (the SlowFast paper's "GFLOPs") and parameters of a preset, for one view.

Counts convolutions and linear layers only, as the paper does, analytically from the shapes
each layer sees in a forward pass on the meta device (no memory, no arithmetic).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass

import torch
from torch import nn

from inference.models import PRESETS, SlowFast, SlowFastConfig, build_model


@dataclass(frozen=True)
class Complexity:
    """Multiply-adds of one view and parameter count."""

    macs: int
    fast_macs: int  # Fast pathway and its lateral connections
    params: int

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def fast_share(self) -> float:
        return self.fast_macs / self.macs


def _layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv3d):
        # Every output element is one dot product over (in_channels / groups) x kernel volume.
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return output.numel() * per_output
    assert isinstance(module, nn.Linear)
    return output.numel() * module.in_features


def count_macs(
    model: SlowFast, inputs: list[torch.Tensor], boxes: torch.Tensor | None = None
) -> Complexity:
    """Multiply-adds of conv and linear layers in `model(inputs, boxes)`, and its parameters."""
    fast_modules = set()
    if model.fast is not None:
        fast_modules = {id(m) for m in model.fast.modules()} | {
            id(m) for m in model.laterals.modules()
        }
    totals = {"all": 0, "fast": 0}

    def hook(module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        macs = _layer_macs(module, output)
        totals["all"] += macs
        if id(module) in fast_modules:
            totals["fast"] += macs

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv3d | nn.Linear)
    ]
    try:
        with torch.no_grad():
            model(inputs, boxes)
    finally:
        for handle in handles:
            handle.remove()
    params = sum(p.numel() for p in model.parameters())
    return Complexity(macs=totals["all"], fast_macs=totals["fast"], params=params)


def preset_complexity(config: SlowFastConfig, size: int = 256) -> Complexity:
    """Complexity of one `size` x `size` view of `config`'s clip (one box for detection)."""
    if size < 32:
        raise ValueError(f"unsupported size {size}; expected >= 32")
    with torch.device("meta"):
        model = build_model(config).eval()
        inputs = [torch.empty(1, 3, config.num_frames, size, size)]
        if config.pathways == 2:
            inputs.append(torch.empty(1, 3, config.num_frames * config.alpha, size, size))
        boxes = None
        if config.head == "detection":
            boxes = torch.tensor([[0.0, 0.0, 0.0, size, size]])
    return count_macs(model, inputs, boxes)


def cli(argv: list[str]) -> int:
    """`python -m inference flops --preset NAME [--size 256] [--json]`."""
    parser = argparse.ArgumentParser(prog="python -m inference flops", description=__doc__)
    parser.add_argument("--preset", required=True, choices=sorted(PRESETS))
    parser.add_argument("--size", type=int, default=256, help="input height and width (pixels)")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(argv)
    try:
        complexity = preset_complexity(PRESETS[args.preset], args.size)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "gmacs": round(complexity.gmacs, 4),
                    "params_m": round(complexity.params_m, 4),
                    "fast_share": round(complexity.fast_share, 4),
                }
            )
        )
    else:
        print(f"preset      {args.preset} at {args.size}x{args.size}, one view")
        print(f"GMACs       {complexity.gmacs:.2f}  (conv + linear multiply-adds)")
        print(f"params      {complexity.params_m:.2f} M")
        print(f"fast share  {complexity.fast_share:.1%}")
    return 0
