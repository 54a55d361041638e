"""A plain, loop-by-loop implementation of the official AVA frame-AP rules, for agreement tests.

Written from the rules (see inference/evaluation.py's docstring), not for speed: dicts of
lists, one Python loop per detection. It keeps the official evaluator's orders where they can
matter: rows are capped per key with a heap of (score, action, y1, x1, y2, x2) tuples that only
admits a row scoring above the smallest kept score, and a key's boxes are read back in the heap's
list order (then stably by descending score).
"""

from __future__ import annotations

import csv
import heapq
import math
from collections import defaultdict


def _read(path, classes, capacity):
    """(rows per key: list of (score, action, y1, x1, y2, x2), every key of the file)."""
    kept = defaultdict(list)
    keys = set()
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if not row:
                continue
            assert len(row) in (2, 7, 8), row
            key = (row[0], int(row[1]))
            keys.add(key)
            if len(row) == 2:
                continue
            x1, y1, x2, y2 = (float(v) for v in row[2:6])
            action = int(row[6])
            if action not in classes:
                continue
            score = float(row[7]) if len(row) == 8 else 1.0
            entry = (score, action, y1, x1, y2, x2)
            heap = kept[key]
            if capacity == 0 or len(heap) < capacity:
                heapq.heappush(heap, entry)
            elif score > heap[0][0]:
                heapq.heapreplace(heap, entry)
    return {key: sorted(heap, key=lambda e: -e[0]) for key, heap in kept.items()}, keys


def _iou(a, b):
    """IoU of (y1, x1, y2, x2) boxes, continuous coordinates."""
    height = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    width = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    intersection = height * width
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    if union == 0:
        return math.nan if intersection == 0 else math.inf
    return intersection / union


def _voc_ap(labels, n_gt):
    """VOC all-point AP of true/false labels already sorted by descending score."""
    precision, recall = [], []
    true_positives = 0
    for i, label in enumerate(labels, start=1):
        true_positives += label
        precision.append(true_positives / i)
        recall.append(true_positives / n_gt)
    precision = [0.0, *precision, 0.0]
    recall = [0.0, *recall, 1.0]
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    return sum(
        (recall[i] - recall[i - 1]) * precision[i]
        for i in range(1, len(recall))
        if recall[i] != recall[i - 1]
    )


def reference_frame_ap(gt_path, detections_path, class_ids, excluded=()):
    """(mAP, {class id: AP or None}, {class id: GT count}) by the official rules."""
    classes = set(class_ids)
    excluded = {(video, int(time)) for video, time in excluded}
    gt, gt_keys = _read(gt_path, classes, 0)
    detections, _ = _read(detections_path, classes, 50)
    gt = {key: rows for key, rows in gt.items() if key not in excluded}

    gt_count = {c: 0 for c in class_ids}
    for rows in gt.values():
        for entry in rows:
            gt_count[entry[1]] += 1

    results = {c: [] for c in class_ids}  # class -> [(score, true positive)]
    for key, rows in detections.items():
        if key in excluded or key not in gt_keys:
            continue
        by_class = defaultdict(list)  # class -> detections, in the key's order
        for entry in rows:
            if entry[2] < entry[4] and entry[3] < entry[5]:  # valid: y1 < y2 and x1 < x2
                by_class[entry[1]].append(entry)
        truth = gt.get(key, [])
        for c, entries in by_class.items():
            boxes = [e[2:] for e in truth if e[1] == c]
            taken = [False] * len(boxes)
            for entry in entries:
                positive = False
                if boxes:
                    ious = [_iou(entry[2:], box) for box in boxes]
                    best = 0
                    for j, value in enumerate(ious):  # first maximum; NaN wins, as argmax
                        if math.isnan(ious[best]):
                            break
                        if math.isnan(value) or value > ious[best]:
                            best = j
                    if ious[best] >= 0.5 and not taken[best]:
                        positive = taken[best] = True
                results[c].append((entry[0], positive))

    ap = {}
    for c in class_ids:
        if gt_count[c] == 0:
            ap[c] = None
            continue
        ranked = sorted(results[c], key=lambda item: -item[0])
        ap[c] = _voc_ap([label for _, label in ranked], gt_count[c]) if ranked else 0.0
    values = [v for v in ap.values() if v is not None]
    mean_ap = sum(values) / len(values) if values else math.nan
    return mean_ap, ap, gt_count
