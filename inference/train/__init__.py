"""Training detection models on AVA ground truth: `python -m inference train`.

`data` builds samples and augmented clips as PySlowFast does for AVA; `loop` holds the training
loop (resume, DDP, validation); `cli` the command line. Library use:
`train(train_gt=..., val_gt=..., videos=..., labelmap=..., base="small", out=...)`.
"""

from __future__ import annotations

from inference.train.loop import (
    LossNotFinite,
    TrainConfig,
    TrainProgress,
    TrainResult,
    native_bf16,
    start_model,
    train,
)

__all__ = [
    "LossNotFinite",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "native_bf16",
    "start_model",
    "train",
]
