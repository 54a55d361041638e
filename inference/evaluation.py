"""AVA frame-level AP at IoU 0.5, with the semantics of the official ActivityNet evaluator.

The rules (``Evaluation/get_ava_performance.py`` and the object-detection code it uses):

- An image key is (video id, timestamp). Every ground-truth row is one instance of one class;
  rows of classes outside the label map are dropped, but any row of the ground-truth file,
  2-column rows included, makes its key present.
- Excluded keys (optional) are removed from both sides first.
- Detections of label-map classes only; per key, the 50 highest-scoring rows are kept (7-column
  rows score 1.0); detections on keys absent from the ground-truth file are ignored; then boxes
  with x1 >= x2 or y1 >= y2 are dropped.
- Per class and key, detections in descending score order are compared with the ground-truth box
  of that class they overlap most (IoU with continuous coordinates; the first such box in the
  official order on exact ties); a detection is a true positive when that IoU >= 0.5 and the box
  was not already taken, else a false positive.
- Per class, AP is the VOC all-point interpolated area under the precision/recall curve over the
  class's detections sorted by score; 0 for a class with ground truth and no detections; no AP
  for a class without ground truth, which the mean leaves out.

The work is vectorised over numpy arrays: detections are streamed from the CSV file and capped
per key as batches arrive, then matched for all (key, class) groups of a chunk of keys at once.

Public API: ``EvaluationResult``, ``evaluate_frame_ap(gt, detections, labelmap, excluded=None,
action_types=None)``, ``evaluate_files(gt_path, detections_path, labelmap_path=DEFAULT_LABELMAP,
excluded_path=None)``, ``cli(argv)`` for ``python -m inference evaluate``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from inference.ava import (
    AvaFormatError,
    AvaRows,
    LabelMap,
    iter_ava_batches,
    read_ava_csv,
    read_excluded,
    read_labelmap,
)
from inference.boxes import iou as box_iou
from inference.concurrency import read_ahead

__all__ = [
    "DEFAULT_LABELMAP",
    "EvaluationResult",
    "cli",
    "evaluate_files",
    "evaluate_frame_ap",
]

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_LABELMAP = DATA / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
# Where the default (item-form) label map has no action types, they come from the full list.
FULL_LABELMAP = DATA / "ava_action_list_v2.2.pbtxt"
IOU_THRESHOLD = 0.5
MAX_DETECTIONS_PER_KEY = 50
READ_AHEAD = 4  # detection batches parsed ahead of the scoring (4 MB of CSV each)
ACTION_TYPES = ("PERSON_MOVEMENT", "OBJECT_MANIPULATION", "PERSON_INTERACTION")
# Largest dense lookup tables (entries) over (video, time) slots and (key, class) groups; beyond
# them (very sparse timestamps, huge label maps) lookups fall back to binary search.
DENSE_TABLE_LIMIT = 50_000_000
T = TypeVar("T")


@dataclass(frozen=True)
class EvaluationResult:
    """Frame-mAP and per-class AP (None for a class without ground truth), in label-map order."""

    mean_ap: float  # NaN when no class has ground truth
    ap: dict[int, float | None]
    gt_count: dict[int, int]
    detection_count: dict[int, int]  # detections scored per class (after cap and filters)
    type_mean_ap: dict[str, float]  # mean AP per action type, where types are known

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict: mAP, per_class AP, gt_count, per_type."""
        return {
            "mAP": None if math.isnan(self.mean_ap) else self.mean_ap,
            "per_class": {str(k): v for k, v in self.ap.items()},
            "gt_count": {str(k): v for k, v in self.gt_count.items()},
            "per_type": self.type_mean_ap,
        }


@dataclass(frozen=True)
class _GroundTruth:
    """Ground truth indexed by key: what detections are looked up against."""

    videos: dict[str, int]  # video id -> index into key_times
    key_times: list[np.ndarray]  # per video: sorted timestamps of its present keys
    key_base: np.ndarray  # per video: index of its first key
    excluded: np.ndarray  # (K,) bool per key
    # Dense lookup (when timestamps are not too sparse): key of (video, time) is
    # slot_key[slot_base[video] + time - first_time[video]], -1 where absent or excluded.
    first_time: np.ndarray
    slot_span: np.ndarray
    slot_base: np.ndarray
    slot_key: np.ndarray | None
    code: np.ndarray  # (M,) int64 key * classes + class, sorted
    group_first: np.ndarray | None  # (K * classes + 1,) first instance of each code, if not huge
    box: np.ndarray  # (M, 4) float64 x1 y1 x2 y2, in the order of code
    row: np.ndarray  # (M,) int64 index of the instance's row in the ground-truth rows
    count: np.ndarray  # (C,) instances per class


def _class_positions(labelmap: LabelMap) -> np.ndarray:
    """Lookup table action id -> position in the label map, -1 for other ids."""
    ids = np.array(labelmap.ids, np.int64)
    table = np.full(int(ids.max()) + 1, -1, np.int64)
    table[ids] = np.arange(len(ids))
    return table


def _lookup(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    inside = (values >= 0) & (values < len(table))
    return np.where(inside, table[np.where(inside, values, 0)], -1)


def _index_ground_truth(
    gt: AvaRows, positions: np.ndarray, n_classes: int, excluded: Iterable[tuple[str, int]]
) -> _GroundTruth:
    order = np.lexsort((gt.timestamp, gt.video))
    video, timestamp = gt.video[order], gt.timestamp[order]
    new_key = np.empty(len(gt), bool)
    new_key[:1] = True
    new_key[1:] = (video[1:] != video[:-1]) | (timestamp[1:] != timestamp[:-1])
    key_sorted = np.cumsum(new_key) - 1
    key = np.empty(len(gt), np.int64)
    key[order] = key_sorted
    key_video, key_time = video[new_key], timestamp[new_key]
    n_videos = len(gt.videos)
    video_starts = np.searchsorted(key_video, np.arange(n_videos + 1))
    key_times = [key_time[video_starts[v] : video_starts[v + 1]] for v in range(n_videos)]
    videos = {video_id: i for i, video_id in enumerate(gt.videos)}

    is_excluded = np.zeros(len(key_video), bool)
    for video_id, excluded_time in excluded:
        v = videos.get(video_id)
        if v is not None:
            i = np.searchsorted(key_times[v], excluded_time)
            if i < len(key_times[v]) and key_times[v][i] == excluded_time:
                is_excluded[video_starts[v] + i] = True

    first_time = np.array([t[0] if len(t) else 0 for t in key_times], np.int64)
    spans = np.array([t[-1] - t[0] + 1 if len(t) else 0 for t in key_times], np.int64)
    slot_base = np.cumsum(spans) - spans
    slot_key = None
    if 0 < spans.sum() <= min(4 * len(key_video) + 1_000_000, DENSE_TABLE_LIMIT):
        slot_key = np.full(int(spans.sum()), -1, np.int64)
        slots = slot_base[key_video] + key_time - first_time[key_video]
        slot_key[slots] = np.where(is_excluded, -1, np.arange(len(key_video)))

    cls = _lookup(positions, gt.action)
    instance = np.flatnonzero((gt.columns >= 7) & (cls >= 0) & ~is_excluded[key])
    code = key[instance] * n_classes + cls[instance]
    by_code = np.argsort(code, kind="stable")  # stable: file order within a (key, class) group
    instance = instance[by_code]
    code = code[by_code]
    n_codes = len(key_video) * n_classes
    group_first = None
    if n_codes <= DENSE_TABLE_LIMIT:
        group_first = np.zeros(n_codes + 1, np.int64)
        np.cumsum(np.bincount(code, minlength=n_codes), out=group_first[1:])
    return _GroundTruth(
        videos=videos,
        key_times=key_times,
        key_base=video_starts[:-1],
        excluded=is_excluded,
        first_time=first_time,
        slot_span=spans,
        slot_base=slot_base,
        slot_key=slot_key,
        code=code,
        group_first=group_first,
        box=gt.box[instance],
        row=instance,
        count=np.bincount(cls[instance], minlength=n_classes),
    )


def _keys_of(
    truth: _GroundTruth, videos: tuple[str, ...], video: np.ndarray, timestamp: np.ndarray
) -> np.ndarray:
    """(N,) index of each row's key among the ground-truth keys, -1 where absent or excluded."""
    gt_video = np.array([truth.videos.get(v, -1) for v in videos] or [-1], np.int64)[video]
    known = gt_video >= 0
    if truth.slot_key is not None:
        v = np.where(known, gt_video, 0)
        offset = timestamp - truth.first_time[v]
        inside = known & (offset >= 0) & (offset < truth.slot_span[v])
        slot = np.where(inside, truth.slot_base[v] + offset, 0)
        return np.where(inside, truth.slot_key[slot], -1)
    key = np.full(len(video), -1, np.int64)
    by_video = np.argsort(gt_video, kind="stable")
    bounds = np.searchsorted(gt_video[by_video], np.arange(len(truth.key_times) + 1))
    for g, times in enumerate(truth.key_times):
        rows = by_video[bounds[g] : bounds[g + 1]]
        if not len(rows):
            continue
        at = np.searchsorted(times, timestamp[rows])
        found = at < len(times)
        found[found] = times[at[found]] == timestamp[rows][found]
        key[rows[found]] = truth.key_base[g] + at[found]
    present = key >= 0
    key[present] = np.where(truth.excluded[key[present]], -1, key[present])
    return key


def _run_starts(key: np.ndarray) -> np.ndarray:
    """Start index of each run of equal consecutive keys."""
    change = np.empty(len(key), bool)
    change[:1] = True
    np.not_equal(key[1:], key[:-1], out=change[1:])
    return np.flatnonzero(change)


def _top_per_run(starts: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """Mask of the k highest scores within each run (runs start at ``starts``)."""
    n = len(score)
    keep = np.ones(n, bool)
    lengths = np.diff(starts, append=n)
    long_runs = np.flatnonzero(lengths > k)
    if not len(long_runs):
        return keep
    run_starts, run_lengths = starts[long_runs], lengths[long_runs]
    width = int(run_lengths.max())
    if len(long_runs) * width > 4 * n + 4096:
        # A few very long runs: rank by sorting instead of padding every run to the longest.
        run = np.repeat(np.arange(len(starts)), lengths)
        order = np.lexsort((-score, run))
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n) - starts[run[order]]
        return rank < k
    # Scores of the long runs in a padded matrix, one row per run; the k-th largest per row.
    rows = np.repeat(np.arange(len(long_runs)), run_lengths)
    column = np.arange(len(rows)) - np.repeat(np.cumsum(run_lengths) - run_lengths, run_lengths)
    index = run_starts[rows] + column
    padded = np.full((len(long_runs), width), np.inf)
    padded[rows, column] = -score[index]
    kth = -np.partition(padded, k - 1, axis=1)[:, k - 1]
    keep[index] = score[index] >= kth[rows]
    return keep


class _DetectionPool:
    """Detections of label-map classes on present keys, capped at 50 per key as batches arrive.

    Files usually hold each key's rows together, so a key is complete once the next key starts:
    the last key of a batch is held back until the next batch shows whether it goes on. Capping
    each run of a key's rows is always safe (a row outside the top 50 of some of a key's rows is
    outside the top 50 of all of them); when a key turns out to come in several runs, the kept
    rows are sorted by key and capped again at the end.
    """

    def __init__(self, truth: _GroundTruth, positions: np.ndarray) -> None:
        self.truth = truth
        self.positions = positions
        self.held: tuple[np.ndarray, ...] | None = None
        self.parts: list[tuple[np.ndarray, ...]] = []  # (key, class, score, box), capped runs
        self.seen = np.zeros(len(truth.excluded), bool)
        self.grouped = True

    def add(self, batch: AvaRows) -> None:
        cls = _lookup(self.positions, batch.action)
        key = _keys_of(self.truth, batch.videos, batch.video, batch.timestamp)
        index = np.flatnonzero((cls >= 0) & (key >= 0) & (batch.columns >= 7))
        if not len(index):
            return
        key = key[index]
        score = np.where(batch.columns[index] == 8, batch.value[index], 1.0)
        starts = _run_starts(key)

        def rows(part: slice | np.ndarray) -> tuple[np.ndarray, ...]:
            return key[part], cls[index[part]], score[part], batch.box[index[part]]

        begin = 0
        if self.held is not None and key[0] == self.held[0][0]:
            # The held key goes on in this batch: its rows join the batch's first run.
            head_end = starts[1] if len(starts) > 1 else len(key)
            head = rows(slice(0, head_end))
            merged = tuple(np.concatenate(pair) for pair in zip(self.held, head, strict=True))
            self.held = None
            if len(starts) == 1:
                self.held = merged
                return
            self._release(merged, np.zeros(1, np.int64))
            begin = 1
        if self.held is not None:
            self._release(self.held, np.zeros(1, np.int64))
        self.held = rows(slice(starts[-1], len(key)))
        if begin < len(starts) - 1:
            middle = np.arange(starts[begin], starts[-1])
            run_starts = starts[begin:-1] - starts[begin]
            top = _top_per_run(run_starts, score[middle], MAX_DETECTIONS_PER_KEY)
            self._add_part(rows(middle[top]), key[starts[begin:-1]])

    def _release(self, rows: tuple[np.ndarray, ...], starts: np.ndarray) -> None:
        top = _top_per_run(starts, rows[2], MAX_DETECTIONS_PER_KEY)
        self._add_part(tuple(column[top] for column in rows), rows[0][starts])

    def _add_part(self, rows: tuple[np.ndarray, ...], run_keys: np.ndarray) -> None:
        if self.grouped and (self.seen[run_keys].any() or len(np.unique(run_keys)) < len(run_keys)):
            self.grouped = False
        self.seen[run_keys] = True
        self.parts.append(rows)

    def chunks(self, chunk_rows: int = 1 << 18) -> Iterator[tuple[np.ndarray, ...]]:
        """Capped (key, class, score, box) in chunks of whole keys, emptying the pool."""
        if self.held is not None:
            self._release(self.held, np.zeros(1, np.int64))
            self.held = None
        parts, self.parts = self.parts, []
        if not self.grouped:
            key, cls, score, box = (np.concatenate(c) for c in zip(*parts, strict=True))
            order = np.argsort(key, kind="stable")
            key, cls, score, box = key[order], cls[order], score[order], box[order]
            top = _top_per_run(_run_starts(key), score, MAX_DETECTIONS_PER_KEY)
            parts = [(key[top], cls[top], score[top], box[top])]
        parts.reverse()  # popped from the end, so that each part is freed once it is used
        chunk: list[tuple[np.ndarray, ...]] = []
        size = 0
        while parts:
            chunk.append(parts.pop())
            size += len(chunk[-1][0])
            if not parts or size >= chunk_rows:
                yield tuple(np.concatenate(c) for c in zip(*chunk, strict=True))
                chunk, size = [], 0


def _official_gt_rank(gt: AvaRows, rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Position of each ground-truth instance among its key's in the official evaluator's order.

    It pushes a key's (1.0, action, y1, x1, y2, x2) tuples on a heap in file order and reads the
    heap's list back as the key's boxes; that order decides between boxes of exactly equal IoU.
    Equal tuples are the same box of the same class, so which of them is which does not matter.
    """
    wanted = set(zip(gt.video[rows].tolist(), gt.timestamp[rows].tolist(), strict=True))
    members: dict[tuple[int, int], list[int]] = {key: [] for key in wanted}
    cls = _lookup(positions, gt.action)
    for i in np.flatnonzero((gt.columns >= 7) & (cls >= 0)).tolist():
        key = (int(gt.video[i]), int(gt.timestamp[i]))
        if key in members:
            members[key].append(i)
    position_of: dict[int, int] = {}
    for indices in members.values():
        heap: list[tuple[float, int, float, float, float, float]] = []
        instances_of: dict[str, list[int]] = {}
        for i in indices:
            x1, y1, x2, y2 = gt.box[i].tolist()
            entry = (1.0, int(gt.action[i]), y1, x1, y2, x2)
            heapq.heappush(heap, entry)
            instances_of.setdefault(repr(entry), []).append(i)
        for position, entry in enumerate(heap):
            position_of[instances_of[repr(entry)].pop()] = position
    return np.array([position_of[i] for i in rows.tolist()], np.int64)


def _match(
    truth: _GroundTruth,
    gt: AvaRows,
    positions: np.ndarray,
    code: np.ndarray,
    box: np.ndarray,
    score: np.ndarray,
) -> np.ndarray:
    """(N,) bool true positive per detection (detections of whole keys)."""
    if truth.group_first is not None:
        left = truth.group_first[code]
        count = truth.group_first[code + 1] - left
    else:
        left = np.searchsorted(truth.code, code, "left")
        count = np.searchsorted(truth.code, code, "right") - left
    n = len(code)
    best = np.full(n, -np.inf)  # IoU of the chosen box; NaN counts as the largest, as argmax
    best_key = np.full(n, -np.inf)
    choice = np.full(n, -1, np.int64)
    ious = []
    for j in range(int(count.max()) if n else 0):
        active = np.flatnonzero(count > j)
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = box_iou(box[active], truth.box[left[active] + j])
        ious.append((active, iou))
        ranked = np.where(np.isnan(iou), np.inf, iou)
        better = ranked > best_key[active]
        best_key[active[better]] = ranked[better]
        best[active[better]] = iou[better]
        choice[active[better]] = j
    candidate = best >= IOU_THRESHOLD

    # Exact IoU ties between different boxes: the official order decides (rare). Copies of the
    # chosen box are interchangeable and need no decision.
    candidates = np.flatnonzero(candidate)
    slot = np.full(n, -1, np.int64)
    slot[candidates] = np.arange(len(candidates))
    chosen_box = truth.box[left[candidates] + choice[candidates]]
    tied = np.zeros(n, bool)
    for j, (active, iou) in enumerate(ious):
        among = candidate[active]
        rows, row_iou = active[among], iou[among]
        other = (truth.box[left[rows] + j] != chosen_box[slot[rows]]).any(axis=1)
        tied[rows] |= (row_iou == best[rows]) & other
    ambiguous = np.flatnonzero(tied)
    if len(ambiguous):
        _break_ties(truth, gt, positions, ambiguous, left, count, best, box, choice)

    # The box goes to the highest-scoring detection that chose it (on equal scores, the first).
    gt_index = left[candidates] + choice[candidates]
    top_score = np.full(len(truth.code), -np.inf)
    np.maximum.at(top_score, gt_index, score[candidates])
    winners = np.flatnonzero(score[candidates] == top_score[gt_index])
    _, first = np.unique(gt_index[winners], return_index=True)
    positive = np.zeros(n, bool)
    positive[candidates[winners[first]]] = True
    return positive


def _break_ties(
    truth: _GroundTruth,
    gt: AvaRows,
    positions: np.ndarray,
    ambiguous: np.ndarray,
    left: np.ndarray,
    count: np.ndarray,
    best: np.ndarray,
    box: np.ndarray,
    choice: np.ndarray,
) -> None:
    """Among boxes of exactly equal best IoU, choose the one first in the official order."""
    spans = [np.arange(left[d], left[d] + count[d]) for d in ambiguous.tolist()]
    instances = np.unique(np.concatenate(spans))
    positions_in_key = _official_gt_rank(gt, truth.row[instances], positions)
    rank = dict(zip(instances.tolist(), positions_in_key.tolist(), strict=True))
    for d, span in zip(ambiguous.tolist(), spans, strict=True):
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = box_iou(np.repeat(box[d : d + 1], len(span), 0), truth.box[span])
        tied = span[iou == best[d]]
        choice[d] = min(tied.tolist(), key=rank.__getitem__) - left[d]


def _average_precision(score: np.ndarray, positive: np.ndarray, n_gt: int) -> float:
    """VOC all-point AP: area under the precision envelope, over one class's detections."""
    positive_scores = np.sort(score[positive])[::-1]
    if not len(positive_scores):
        return 0.0
    # Precision only rises at true positives, so the envelope is the running maximum (from the
    # right) of the precision at each true positive: i / (detections scoring at least as high).
    at_least = len(score) - np.searchsorted(np.sort(score), positive_scores, "left")
    true_positives = np.arange(1, len(positive_scores) + 1)
    precision = true_positives / at_least
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    recall_step = np.diff(true_positives / n_gt, prepend=0.0)
    return float(np.sum(recall_step * envelope))


def evaluate_frame_ap(
    gt: AvaRows,
    detections: AvaRows | Iterable[AvaRows],
    labelmap: LabelMap,
    excluded: Iterable[tuple[str, int]] | None = None,
    action_types: Mapping[int, str] | None = None,
) -> EvaluationResult:
    """Frame-mAP at IoU 0.5 of detections (one batch of rows or an iterable of batches)."""
    positions = _class_positions(labelmap)
    n_classes = len(labelmap.actions)
    truth = _index_ground_truth(gt, positions, n_classes, excluded or ())

    pool = _DetectionPool(truth, positions)
    for batch in [detections] if isinstance(detections, AvaRows) else detections:
        pool.add(batch)
    scored = []  # (class, score, true positive) per chunk of whole keys
    for key, cls, score, box in pool.chunks():
        valid = (box[:, 0] < box[:, 2]) & (box[:, 1] < box[:, 3])
        key, cls, score, box = key[valid], cls[valid], score[valid], box[valid]
        positive = _match(truth, gt, positions, key * n_classes + cls, box, score)
        scored.append((cls, score, positive))
    if scored:
        cls, score, positive = (np.concatenate(c) for c in zip(*scored, strict=True))
    else:
        cls, score, positive = np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool)
    # by class (a stable radix sort on small class numbers)
    order = np.argsort(cls.astype(np.int16 if n_classes < 2**15 else np.int64), kind="stable")
    cls, score, positive = cls[order], score[order], positive[order]
    bounds = np.searchsorted(cls, np.arange(n_classes + 1))

    ap: dict[int, float | None] = {}
    gt_count: dict[int, int] = {}
    detection_count: dict[int, int] = {}
    for c, action in enumerate(labelmap.actions):
        n_gt = int(truth.count[c])
        gt_count[action.id] = n_gt
        detection_count[action.id] = int(bounds[c + 1] - bounds[c])
        span = slice(bounds[c], bounds[c + 1])
        ap[action.id] = _average_precision(score[span], positive[span], n_gt) if n_gt else None
    with_gt = [v for v in ap.values() if v is not None]
    mean_ap = float(np.mean(with_gt)) if with_gt else math.nan

    types = dict(action_types or {})
    types.update({a.id: a.type for a in labelmap.actions if a.type is not None})
    type_mean_ap = {}
    for action_type in ACTION_TYPES:
        values = [v for k, v in ap.items() if v is not None and types.get(k) == action_type]
        if values:
            type_mean_ap[action_type] = float(np.mean(values))
    return EvaluationResult(
        mean_ap=mean_ap,
        ap=ap,
        gt_count=gt_count,
        detection_count=detection_count,
        type_mean_ap=type_mean_ap,
    )


def _default_types(labelmap: LabelMap) -> dict[int, str]:
    """Action types from the full AVA v2.2 list for actions whose id and name match it."""
    if all(action.type is not None for action in labelmap.actions):
        return {}
    full = read_labelmap(FULL_LABELMAP).by_id()
    return {
        a.id: full[a.id].type or ""
        for a in labelmap.actions
        if a.id in full and full[a.id].name == a.name
    }


def evaluate_files(
    gt_path: str | os.PathLike[str],
    detections_path: str | os.PathLike[str],
    labelmap_path: str | os.PathLike[str] = DEFAULT_LABELMAP,
    excluded_path: str | os.PathLike[str] | None = None,
) -> EvaluationResult:
    """Frame-mAP of an AVA detections CSV against a ground-truth CSV (the official CLI's inputs)."""
    labelmap = read_labelmap(labelmap_path)
    excluded = read_excluded(excluded_path) if excluded_path is not None else []
    batches = iter_ava_batches(detections_path, "predictions", block_size=1 << 22)
    with read_ahead(batches, READ_AHEAD) as detections:
        gt = read_ava_csv(gt_path, "gt", validate=False)
        return evaluate_frame_ap(gt, detections, labelmap, excluded, _default_types(labelmap))


def _report(result: EvaluationResult, labelmap: LabelMap) -> str:
    names = {a.id: a.name for a in labelmap.actions}
    lines = [f"{'id':>4}  {'AP':>8}  {'GT':>7}  name"]
    for action_id, value in result.ap.items():
        text = "-" if value is None else f"{value:.4f}"
        lines.append(
            f"{action_id:>4}  {text:>8}  {result.gt_count[action_id]:>7}  {names[action_id]}"
        )
    for action_type, value in result.type_mean_ap.items():
        lines.append(f"mAP {action_type}: {value:.4f}")
    lines.append(f"mAP@0.5IOU: {result.mean_ap:.6f}")
    return "\n".join(lines)


def cli(argv: list[str]) -> int:
    """`python -m inference evaluate`: frame-mAP of an AVA detections CSV."""
    parser = argparse.ArgumentParser(
        prog="python -m inference evaluate",
        description="AVA frame-mAP at IoU 0.5 with the official ActivityNet evaluator's rules.",
    )
    parser.add_argument("-g", "--groundtruth", required=True, help="ground-truth CSV")
    parser.add_argument("-d", "--detections", required=True, help="detections CSV")
    parser.add_argument("-l", "--labelmap", default=str(DEFAULT_LABELMAP), help="pbtxt label map")
    parser.add_argument("-e", "--exclusions", help="excluded timestamps CSV")
    parser.add_argument("--json", action="store_true", help="print a JSON object as last line")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        labelmap = read_labelmap(args.labelmap)
        result = evaluate_files(args.groundtruth, args.detections, args.labelmap, args.exclusions)
    except (OSError, ValueError) as error:  # AvaFormatError is a ValueError
        lines = error.messages if isinstance(error, AvaFormatError) else [str(error)]
        if isinstance(error, AvaFormatError) and error.total > len(lines):
            lines = [*lines, f"... and {error.total - len(lines)} more errors"]
        print("\n".join(f"error: {line}" for line in lines), file=sys.stderr)
        return 1
    print(f"evaluated in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    print(_report(result, labelmap))
    if args.json:
        print(json.dumps(result.to_json()))
    return 0
