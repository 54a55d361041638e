"""Detection and ground-truth rows for an evaluation, assembled from plain ids and coordinates.

The app reads boxes, labels and score vectors from its database; these turn them into the
`AvaRows` columns `inference.evaluation.evaluate_frame_ap` reads, with no CSV round trip. Keys
are (video index, timestamp) of an `EvaluationSet`; boxes and keyframes are named by integer ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.ava import NO_ACTION, AvaRows, LabelMap

Coords = tuple[float, float, float, float]


@dataclass(frozen=True)
class EvaluationSet:
    """The keyframes scored, as AVA keys: video ids (sorted) and each keyframe's (video, time)."""

    videos: tuple[str, ...]
    keys: dict[int, tuple[int, int]]  # keyframe pk -> (index into videos, timestamp)

    def name(self, keyframe_pk: int) -> str:
        video, timestamp = self.keys[keyframe_pk]
        return f"{self.videos[video]}@{timestamp}"


def key_array(evaluation_set: EvaluationSet, keyframe_pks: Iterable[int]) -> np.ndarray:
    """(N, 2) int64 (video index, timestamp) of each keyframe pk."""
    return np.array([evaluation_set.keys[pk] for pk in keyframe_pks], np.int64).reshape(-1, 2)


def rows_from_columns(
    evaluation_set: EvaluationSet,
    keys: np.ndarray,
    box: np.ndarray,
    action: np.ndarray,
    value: np.ndarray,
    columns: int | np.ndarray,
) -> AvaRows:
    """AvaRows straight from numpy columns (no CSV round trip); `keys` from `key_array`."""
    n = len(keys)
    return AvaRows(
        videos=evaluation_set.videos,
        video=keys[:, 0].astype(np.int32),
        timestamp=keys[:, 1].copy(),
        box=np.asarray(box, np.float64).reshape(-1, 4),
        action=np.asarray(action, np.int64),
        value=np.asarray(value, np.float64),
        columns=np.broadcast_to(np.asarray(columns, np.int8), (n,)).copy(),
        line=np.zeros(n, np.int64),
    )


def ground_truth_rows(
    evaluation_set: EvaluationSet,
    keyframes: Sequence[int],
    coords: Sequence[Coords],
    actions: Sequence[int],
    persons: Sequence[int],
) -> AvaRows:
    """Ground-truth rows (one per label: keyframe id, box, action, person id), plus a 2-column row
    per keyframe of the set so that every keyframe is a key (one without people scores its
    detections as false positives)."""
    present = list(evaluation_set.keys)
    n, k = len(keyframes), len(present)
    return rows_from_columns(
        evaluation_set,
        key_array(evaluation_set, list(keyframes) + present),
        np.concatenate([np.asarray(coords, np.float64).reshape(-1, 4), np.full((k, 4), np.nan)]),
        np.asarray(list(actions) + [NO_ACTION] * k),
        np.concatenate([np.asarray(persons, np.float64), np.full(k, np.nan)]),
        np.asarray([8] * n + [2] * k),
    )


@dataclass(frozen=True)
class Detections:
    """A version's scored boxes on the set, kept compact; rows are made a batch at a time, so a
    large set never holds every (box, action) row at once (the evaluator caps each batch)."""

    # (box whose scores count, keyframe, where it is scored), in keyframe order
    boxes: list[tuple[int, int, tuple[float, float, float, float]]]
    vectors: dict[int, bytes]  # box pk -> float16 scores in the version's label-map order
    labels: dict[int, list[tuple[int, float]]]  # box pk -> (action id, score), boxes without one
    vector_ids: np.ndarray  # (C,) action ids of the vectors
    lacking: set[int]  # keyframes where the version's detections are missing

    def batches(
        self, evaluation_set: EvaluationSet, labelmap: LabelMap, size: int
    ) -> Iterator[AvaRows]:
        """Rows, one per (box, action) score, `size` boxes at a time; a vector gives every
        action of the label map."""
        keep = np.flatnonzero(np.isin(self.vector_ids, labelmap.ids))  # others are not scored
        for start in range(0, len(self.boxes), size):
            yield self._rows(self.boxes[start : start + size], keep, evaluation_set)

    def _rows(
        self,
        boxes: list[tuple[int, int, tuple[float, float, float, float]]],
        keep: np.ndarray,
        evaluation_set: EvaluationSet,
    ) -> AvaRows:
        with_vector = [box for box in boxes if box[0] in self.vectors]
        vectors = b"".join(self.vectors[pk] for pk, _, _ in with_vector)
        scores = np.frombuffer(vectors, np.float16).reshape(-1, len(self.vector_ids))[:, keep]
        with_labels = [
            (keyframe_pk, coords, action_id, score)
            for pk, keyframe_pk, coords in boxes
            if pk not in self.vectors
            for action_id, score in self.labels[pk]
        ]
        n = len(keep)
        keys = np.concatenate(
            [
                np.repeat(key_array(evaluation_set, (box[1] for box in with_vector)), n, 0),
                key_array(evaluation_set, (row[0] for row in with_labels)),
            ]
        )
        box = np.concatenate(
            [
                np.repeat(np.asarray([b[2] for b in with_vector]).reshape(-1, 4), n, 0),
                np.asarray([row[1] for row in with_labels]).reshape(-1, 4),
            ]
        )
        action = np.concatenate(
            [
                np.tile(self.vector_ids[keep], len(with_vector)),
                np.asarray([row[2] for row in with_labels], np.int64),
            ]
        )
        value = np.concatenate(
            [
                scores.reshape(-1).astype(np.float64),
                np.asarray([row[3] for row in with_labels], np.float64),
            ]
        )
        return rows_from_columns(evaluation_set, keys, box, action, value, 8)


def snapshot_sha256(
    labelmap: LabelMap, evaluation_set: EvaluationSet, records: Iterable[tuple[Any, ...]]
) -> str:
    """sha256 of what a report scored: the label map's ids, the keyframe set and the
    ground-truth rows, each in a canonical order (independent of database ids)."""
    digest = hashlib.sha256()
    digest.update(("labelmap " + ",".join(map(str, labelmap.ids)) + "\n").encode())
    keys = sorted((evaluation_set.videos[v], t) for v, t in evaluation_set.keys.values())
    digest.update("".join(f"keyframe {video},{time}\n" for video, time in keys).encode())
    lines = sorted("gt " + ",".join(repr(field) for field in record) + "\n" for record in records)
    digest.update("".join(lines).encode())
    return digest.hexdigest()


def _rounded(coords: tuple[float, float, float, float]) -> tuple[int, ...]:
    return tuple(round(c * 1000) for c in coords)


def on_ground_truth(
    truth_boxes: Mapping[int, tuple[int, Coords]],
    placed: dict[int, tuple[int, tuple[float, float, float, float]]],
    scored: set[int],
) -> dict[int, int]:
    """Ground-truth box id -> the scored box of the version that gives it scores: itself, else
    the first one at the same place (to 1e-3, the AVA CSV precision) on the same keyframe."""
    at_place: dict[tuple[int, tuple[int, ...]], int] = {}
    for pk in sorted(scored):
        keyframe_pk, coords = placed[pk]
        at_place.setdefault((keyframe_pk, _rounded(coords)), pk)
    sources = {}
    for gt_pk, (keyframe_pk, coords) in truth_boxes.items():
        if gt_pk in scored:
            sources[gt_pk] = gt_pk
        elif (keyframe_pk, _rounded(coords)) in at_place:
            sources[gt_pk] = at_place[(keyframe_pk, _rounded(coords))]
    return sources
