"""How unsure a model is about a keyframe: the review queue's least-confident-first order."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def score_uncertainty(vectors: Iterable[np.ndarray]) -> float:
    """Sum over the vectors (one per person box) and their classes of p * (1 - p).

    Each independent sigmoid score contributes its Bernoulli variance: 0 when the model is sure
    (p = 0 or 1), 0.25 at p = 0.5. A keyframe with more people or more unsure actions ranks higher.
    """
    total = 0.0
    for vector in vectors:
        p = np.asarray(vector, dtype=np.float64).ravel()
        if p.size and (np.any(p < 0) or np.any(p > 1) or not np.all(np.isfinite(p))):
            raise ValueError(f"scores must be probabilities in [0, 1], got {p.min()}..{p.max()}")
        total += float(np.sum(p * (1.0 - p)))
    return total
