"""Plain Python library for AVA-style action detection: AVA I/O, video clips, SlowFast, evaluation.

Importing this package loads neither Django nor torch; torch is imported where a model is built or
run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["default_device", "load_model"]


def load_model(path: str, device: str = "cpu") -> torch.nn.Module:
    """Load one of our `.pt` checkpoints as a model in eval mode on `device`."""
    from inference.checkpoints import load_model as _load_model

    return _load_model(path, device=device)


def default_device(configured: str | None = None) -> str:
    """`configured` if given, else "cuda" when a GPU is present, else "cpu"."""
    if configured:
        return configured
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
