"""Command line: `python -m inference <command> [options]`; `--help` lists the commands."""

from __future__ import annotations

import importlib
import sys

# command -> "module:function"; each function takes argv (after the command name) and returns an
# exit code. Modules are imported only when their command runs, so `evaluate` and `synth` never
# load torch.
COMMANDS: dict[str, tuple[str, str]] = {
    "flops": ("inference.flops:cli", "multiply-adds and parameters of a preset"),
    "convert": (
        "inference.checkpoints:convert_cli",
        "convert a pytorchvideo/PySlowFast checkpoint",
    ),
    "fetch-pretrained": (
        "inference.checkpoints:fetch_cli",
        "download and convert an official checkpoint",
    ),
    "predict": ("inference.predict:cli", "score person boxes of a video, write AVA predictions"),
    "evaluate": ("inference.evaluation:cli", "AVA frame-mAP at IoU 0.5 (official semantics)"),
    "figure": ("inference.figures:cli", "per-class AP chart (Figure 3) of evaluate --json results"),
    "synth": ("inference.synth:cli", "render a synthetic AVA-style dataset"),
    "train": ("inference.train.cli:cli", "train a detection model on AVA CSVs (resumable, DDP)"),
    "experiment": (
        "inference.experiment:cli",
        "slowfast-vs-slow: Slow-only vs SlowFast per class on synthetic data (Figure 3)",
    ),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        width = max(len(name) for name in COMMANDS)
        lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
        print("usage: python -m inference <command> [options]\n\ncommands:\n" + "\n".join(lines))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nerror: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    target, _ = COMMANDS[argv[0]]
    module_name, function_name = target.split(":")
    command = getattr(importlib.import_module(module_name), function_name)
    return int(command(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
