"""Our SlowFast R50 8x8 against pytorchvideo's `slowfast_r50`: same weights, same input, CPU.

In one run: fp32 forward time of both at batch 1 and 4 (224x224, 8 Slow / 32 Fast frames, the
size pytorchvideo's head is built for), our model under bf16 autocast, and the largest score
difference bf16 causes (classification logits and softmax, and the AVA detection preset's
sigmoid scores). Weights are pytorchvideo's random initialisation with BN statistics taken from a
random batch, converted with `inference.checkpoints.convert`.

Usage: .venv/bin/python bench/model.py [--repeats 3] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from inference.checkpoints import convert

SIZE, SLOW_FRAMES, ALPHA = 224, 8, 4


def clip(batch: int, generator: torch.Generator) -> list[torch.Tensor]:
    slow = torch.randn(batch, 3, SLOW_FRAMES, SIZE, SIZE, generator=generator)
    fast = torch.randn(batch, 3, SLOW_FRAMES * ALPHA, SIZE, SIZE, generator=generator)
    return [slow, fast]


def calibrate_batch_norm(model: torch.nn.Module, run: Callable[[], object]) -> None:
    """BN running statistics from one random batch, so eval-mode activations stay in range."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    with torch.no_grad():
        run()
    model.eval()


def seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def compare(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per run, after one warm-up each; runs alternate so load hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    with torch.inference_mode():
        for run in runs.values():
            run()
        for _ in range(repeats):
            for name, run in runs.items():
                times[name].append(seconds(run))
    return {name: statistics.median(values) for name, values in times.items()}


def converted(reference: torch.nn.Module, preset_name: str) -> torch.nn.Module:
    """Our model with `reference`'s weights, through the pytorchvideo converter."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reference.pyth"
        torch.save({"model_state": reference.state_dict()}, path)
        model, _, _ = convert("pytorchvideo", path, preset_name)
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from pytorchvideo.models.hub import slowfast_r50, slowfast_r50_detection

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    reference = slowfast_r50(pretrained=False)
    pools = reference.blocks[5].pool
    small = [x[:, :, :, :112, :112] for x in clip(2, generator)]
    pools[0].kernel_size, pools[1].kernel_size = (8, 4, 4), (32, 4, 4)  # 112x112 calibration
    calibrate_batch_norm(reference, lambda: reference(list(small)))
    pools[0].kernel_size, pools[1].kernel_size = (8, 7, 7), (32, 7, 7)
    ours = converted(reference, "slowfast_r50_8x8")
    results: dict[str, object] = {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "input": f"{SIZE}x{SIZE}, {SLOW_FRAMES} Slow / {SLOW_FRAMES * ALPHA} Fast frames",
    }
    for batch in (1, 4):
        inputs = clip(batch, generator)
        with torch.inference_mode():
            difference = (ours(inputs) - reference(list(inputs))).abs().max().item()
        runs = {
            "ours": lambda inputs=inputs: ours(inputs),
            "pytorchvideo": lambda inputs=inputs: reference(list(inputs)),
        }
        median = compare(runs, args.repeats)
        results[f"batch{batch}"] = {
            "ours_s": round(median["ours"], 3),
            "pytorchvideo_s": round(median["pytorchvideo"], 3),
            "speedup": round(median["pytorchvideo"] / median["ours"], 2),
            "max_abs_logit_diff": difference,
        }
    # bf16 autocast (batch 1: CPUs without native bf16 run it far slower than fp32).
    inputs = clip(1, generator)
    median = compare({"bf16": lambda: _bf16(ours, inputs)}, args.repeats)
    results["batch1"]["ours_bf16_s"] = round(median["bf16"], 3)  # type: ignore[index]
    with torch.inference_mode():
        fp32 = ours(inputs)
        bf16 = _bf16(ours, inputs).float()
    results["bf16_max_abs_logit_diff"] = (fp32 - bf16).abs().max().item()
    results["bf16_max_abs_softmax_diff"] = (fp32.softmax(1) - bf16.softmax(1)).abs().max().item()
    # The product's scores: AVA detection sigmoid probabilities.
    detector_reference = slowfast_r50_detection(pretrained=False)
    boxes = torch.tensor([[0, 20.0, 10.0, 120.0, 220.0], [0, 100.0, 30.0, 200.0, 200.0]])
    calibrate_batch_norm(detector_reference, lambda: detector_reference(list(small), boxes / 2))
    detector = converted(detector_reference, "slowfast_r50_8x8_ava")
    with torch.inference_mode():
        scores = detector(inputs, boxes)
        scores_bf16 = _bf16(detector, inputs, boxes).float()
        reference_scores = detector_reference(list(inputs), boxes)
    results["ava_max_abs_score_diff_vs_pytorchvideo"] = (
        (scores - reference_scores).abs().max().item()
    )
    results["ava_bf16_max_abs_score_diff"] = (scores - scores_bf16).abs().max().item()
    if args.json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key}: {value}")
    return 0


def _bf16(
    model: torch.nn.Module, inputs: list[torch.Tensor], boxes: torch.Tensor | None = None
) -> torch.Tensor:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return model(inputs, boxes)


if __name__ == "__main__":
    sys.exit(main())
