"""Frame-AP evaluation: one hand-computed case per rule, agreement with a plain implementation,
and the CLI."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from inference import evaluation
from inference.ava import parse_labelmap, read_ava_csv, read_labelmap
from inference.evaluation import DEFAULT_LABELMAP, evaluate_files, evaluate_frame_ap
from tests.inference.ava_eval_reference import reference_frame_ap

ROOT = Path(__file__).resolve().parents[2]
LABELMAP_TEXT = "".join(
    f'label {{\n  name: "{name}"\n  label_id: {i}\n  label_type: {kind}\n}}\n'
    for i, name, kind in [
        (1, "stand", "PERSON_MOVEMENT"),
        (2, "carry", "OBJECT_MANIPULATION"),
        (3, "talk to", "PERSON_INTERACTION"),
    ]
)
A, B, C = 1, 2, 3
OUTSIDE = 9  # an action id that is not in the label map


def row(video, time, box, action=None, value=None):
    fields = [video, f"{time:04d}"]
    if box is not None:
        fields += [f"{c:.6f}" for c in box] + [str(action)]
        if value is not None:
            fields.append(repr(float(value)))
    return ",".join(fields)


def evaluate(tmp_path, gt_rows, det_rows, excluded=None, labelmap=LABELMAP_TEXT):
    (tmp_path / "gt.csv").write_text("".join(r + "\n" for r in gt_rows))
    (tmp_path / "det.csv").write_text("".join(r + "\n" for r in det_rows))
    (tmp_path / "map.pbtxt").write_text(labelmap)
    excluded_path = None
    if excluded is not None:
        excluded_path = tmp_path / "excluded.csv"
        excluded_path.write_text("".join(f"{v},{t:04d}\n" for v, t in excluded))
    result = evaluate_files(
        tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "map.pbtxt", excluded_path
    )
    # every hand-computed case must also hold for the plain implementation
    class_ids = parse_labelmap(labelmap).ids
    mean_ap, ap, gt_count = reference_frame_ap(
        tmp_path / "gt.csv", tmp_path / "det.csv", class_ids, excluded or ()
    )
    assert result.gt_count == gt_count
    for c in class_ids:
        assert (result.ap[c] is None) == (ap[c] is None)
        if ap[c] is not None:
            assert result.ap[c] == pytest.approx(ap[c], abs=1e-12)
    return result


BOX = (0.1, 0.1, 0.5, 0.9)
FAR = (0.6, 0.1, 0.9, 0.5)  # IoU 0 with BOX


def far_box(i):
    """Boxes that do not overlap BOX, all different."""
    return (0.6, 0.01 * i, 0.9, 0.5 + 0.001 * i)


def test_it_scores_true_then_false_positive_and_the_reverse(tmp_path):
    gt = [row("v", 902, BOX, A, 0)]
    result = evaluate(tmp_path, gt, [row("v", 902, BOX, A, 0.9), row("v", 902, FAR, A, 0.8)])
    assert result.ap[A] == 1.0  # precision 1 at recall 1
    result = evaluate(tmp_path, gt, [row("v", 902, FAR, A, 0.9), row("v", 902, BOX, A, 0.8)])
    assert result.ap[A] == 0.5  # precision 1/2 at recall 1


def test_it_counts_iou_of_exactly_one_half(tmp_path):
    gt = [row("v", 902, (0.0, 0.0, 0.5, 1.0), A, 0)]
    # intersection 0.25, union 0.5: IoU 0.5 exactly, a true positive
    result = evaluate(tmp_path, gt, [row("v", 902, (0.0, 0.0, 0.25, 1.0), A, 0.9)])
    assert result.ap[A] == 1.0
    result = evaluate(tmp_path, gt, [row("v", 902, (0.0, 0.0, 0.249, 1.0), A, 0.9)])
    assert result.ap[A] == 0.0


def test_it_keeps_the_50_best_rows_of_label_map_classes_per_key(tmp_path):
    gt = [row("v", 902, BOX, A, 0)]
    false_positives = [row("v", 902, far_box(i), A, 0.5 + 0.001 * i) for i in range(49)]
    true_positive = row("v", 902, BOX, A, 0.1)
    outside = [row("v", 902, far_box(i), OUTSIDE, 0.9 + 0.001 * i) for i in range(20)]
    # 50 rows of label-map classes: the true positive is kept, ranked 50th
    result = evaluate(tmp_path, gt, [*false_positives, true_positive, *outside])
    assert result.ap[A] == pytest.approx(1 / 50)
    assert result.detection_count[A] == 50
    # a 51st row scoring above it pushes it out, whatever its class (B here)
    pushed = [*false_positives, true_positive, row("v", 902, FAR, B, 0.95)]
    result = evaluate(tmp_path, gt, pushed)
    assert result.ap[A] == 0.0
    assert result.detection_count[A] == 49


def test_it_caps_per_key_not_per_file(tmp_path):
    gt = [row("v", 902, BOX, A, 0), row("v", 903, BOX, A, 0)]
    rows = [row("v", 902, far_box(i), A, 0.5 + 0.001 * i) for i in range(49)]
    rows += [row("v", 903, far_box(i), A, 0.6 + 0.001 * i) for i in range(49)]
    rows += [row("v", 902, BOX, A, 0.1), row("v", 903, BOX, A, 0.2)]
    result = evaluate(tmp_path, gt, rows)
    assert result.detection_count[A] == 100
    # 98 false positives above both true positives: precision 1/99 and 2/100
    assert result.ap[A] == pytest.approx(0.5 * 2 / 100 + 0.5 * 2 / 100)


def test_it_counts_detections_on_frames_without_boxes_and_ignores_unknown_frames(tmp_path):
    gt = [row("v", 902, BOX, A, 0), row("v", 903, None), row("v", 904, FAR, OUTSIDE, 0)]
    true_positive = row("v", 902, BOX, A, 0.5)
    # on a key that the ground truth names only by a 2-column row: a false positive
    result = evaluate(tmp_path, gt, [row("v", 903, BOX, A, 0.9), true_positive])
    assert result.ap[A] == 0.5
    # on a key named only by a row of a class outside the label map: a false positive
    result = evaluate(tmp_path, gt, [row("v", 904, BOX, A, 0.9), true_positive])
    assert result.ap[A] == 0.5
    # on keys the ground-truth file does not name: ignored
    unknown = [row("v", 905, BOX, A, 0.9), row("w", 902, BOX, A, 0.8)]
    result = evaluate(tmp_path, gt, [*unknown, true_positive])
    assert result.ap[A] == 1.0
    assert result.detection_count[A] == 1


def test_it_removes_excluded_keys_from_both_sides(tmp_path):
    gt = [row("v", 902, BOX, A, 0), row("v", 903, BOX, A, 0)]
    det = [row("v", 903, FAR, A, 0.9), row("v", 902, BOX, A, 0.8)]
    result = evaluate(tmp_path, gt, det)
    assert result.gt_count[A] == 2
    assert result.ap[A] == 0.25  # false positive, then true positive at recall 1/2
    result = evaluate(tmp_path, gt, det, excluded=[("v", 903), ("w", 1000)])
    assert result.gt_count[A] == 1
    assert result.ap[A] == 1.0


def test_it_drops_invalid_boxes_after_the_cap(tmp_path):
    gt = [row("v", 902, BOX, A, 0)]
    inverted = (0.5, 0.1, 0.1, 0.9)  # x1 > x2, overlapping BOX's area
    flat = (0.1, 0.5, 0.5, 0.5)  # y1 == y2
    result = evaluate(
        tmp_path,
        gt,
        [row("v", 902, inverted, A, 0.95), row("v", 902, flat, A, 0.9), row("v", 902, BOX, A, 0.5)],
    )
    assert result.ap[A] == 1.0
    assert result.detection_count[A] == 1
    # the invalid box still takes one of the 50 places
    rows = [row("v", 902, inverted, A, 0.99)]
    rows += [row("v", 902, far_box(i), A, 0.5 + 0.001 * i) for i in range(49)]
    result = evaluate(tmp_path, gt, [*rows, row("v", 902, BOX, A, 0.1)])
    assert result.ap[A] == 0.0


def test_it_leaves_classes_without_ground_truth_out_of_the_mean(tmp_path):
    gt = [row("v", 902, BOX, A, 0), row("v", 902, BOX, B, 0)]
    det = [row("v", 902, BOX, A, 0.9), row("v", 902, BOX, C, 0.8)]
    result = evaluate(tmp_path, gt, det)
    assert result.ap == {A: 1.0, B: 0.0, C: None}  # B: ground truth, no detections
    assert result.gt_count == {A: 1, B: 1, C: 0}
    assert result.mean_ap == 0.5
    assert result.type_mean_ap == {"PERSON_MOVEMENT": 1.0, "OBJECT_MANIPULATION": 0.0}
    assert result.to_json()["per_class"] == {"1": 1.0, "2": 0.0, "3": None}


def test_it_gives_a_taken_box_no_second_match(tmp_path):
    first, second = (0.0, 0.0, 0.4, 1.0), (0.1, 0.0, 0.5, 1.0)
    gt = [row("v", 902, first, A, 0), row("v", 902, second, A, 1)]
    # The second detection overlaps `first` most (IoU 0.905), which is taken: a false positive,
    # although it overlaps `second` by 0.667.
    det = [row("v", 902, first, A, 0.9), row("v", 902, (0.02, 0.0, 0.42, 1.0), A, 0.8)]
    result = evaluate(tmp_path, gt, det)
    assert result.ap[A] == 0.5
    # matching is per class: the same box is there to be found for another class
    det_b = [*det, row("v", 902, first, B, 0.7)]
    result = evaluate(tmp_path, [*gt, row("v", 902, first, B, 0)], det_b)
    assert result.ap[A] == 0.5
    assert result.ap[B] == 1.0


def test_it_breaks_exact_iou_ties_in_the_official_box_order(tmp_path):
    # Three boxes of one class, written B, C, A; the official evaluator reads a key's boxes in
    # the order of its heap: A, C, B. A detection overlapping B and C by exactly 0.6 takes C.
    box_a, box_b, box_c = (0.0, 0.0, 0.5, 1.0), (0.25, 0.0, 0.75, 1.0), (0.5, 0.0, 1.0, 1.0)
    gt = [row("v", 902, b, A, i) for i, b in enumerate([box_b, box_c, box_a])]
    det = [row("v", 902, (0.375, 0.0, 0.875, 1.0), A, 0.9), row("v", 902, box_c, A, 0.8)]
    result = evaluate(tmp_path, gt, det)
    assert result.ap[A] == pytest.approx(1 / 3)  # true, then false positive (C was taken)


def random_case(rng, tmp_path, n_videos=3, n_times=6):
    """Ground truth, detections and exclusions with distinct scores on a 3-decimal grid."""

    def random_box():
        x1, y1 = rng.integers(0, 700, 2)
        w, h = rng.integers(50, 300, 2)
        return tuple(v / 1000 for v in (x1, y1, min(x1 + w, 1000), min(y1 + h, 1000)))

    keys = [(f"vid{v}", 902 + t) for v in range(n_videos) for t in range(n_times)]
    gt, det = [], []
    for video, time in keys:
        kind = rng.random()
        if kind < 0.15:
            gt.append(row(video, time, None))
            continue
        if kind < 0.25:  # a key named in the ground truth but not its videos'
            continue
        persons = [random_box() for _ in range(rng.integers(1, 4))]
        for person, box in enumerate(persons):
            for action in rng.choice([A, B, C, OUTSIDE], rng.integers(1, 3), replace=False):
                gt.append(row(video, time, box, int(action), person))
        for _ in range(rng.integers(1, 5)):
            base = persons[rng.integers(len(persons))] if rng.random() < 0.7 else random_box()
            jitter = rng.integers(-60, 61, 4) / 1000
            box = tuple(np.clip(np.array(base) + jitter, 0, 1).round(3))
            if rng.random() < 0.05:
                box = (box[2], box[1], box[0], box[3])  # invalid: x1 >= x2
            for action in [A, B, C, OUTSIDE]:
                if rng.random() < 0.8:
                    det.append((video, time, box, action))
    # a key with more than 50 rows, and keys only the detections name
    for i in range(70):
        det.append(("vid0", 902, random_box(), [A, B, C][i % 3]))
    det += [("vid9", 902, random_box(), A), ("vid0", 1500, random_box(), B)]
    scores = rng.permutation(len(det)) / len(det) + rng.random() * 1e-3
    det_rows = [row(v, t, b, a, s) for (v, t, b, a), s in zip(det, scores, strict=True)]
    order = rng.permutation(len(det_rows))  # detections in any order
    det_rows = [det_rows[i] for i in order]
    det_rows.insert(3, row("vid1", 903, None))  # 2-column rows are allowed in detections too
    excluded = [keys[i] for i in rng.choice(len(keys), 2, replace=False)]
    return gt, det_rows, excluded


@pytest.mark.parametrize("seed", range(12))
def test_it_agrees_with_the_plain_implementation(tmp_path, seed):
    rng = np.random.default_rng(seed)
    gt, det, excluded = random_case(rng, tmp_path)
    result = evaluate(tmp_path, gt, det, excluded=excluded if seed % 2 else None)
    mean_ap, _, _ = reference_frame_ap(
        tmp_path / "gt.csv", tmp_path / "det.csv", (A, B, C), excluded if seed % 2 else ()
    )
    assert result.mean_ap == pytest.approx(mean_ap, abs=1e-9)
    assert 0 < result.mean_ap < 1


def test_it_agrees_when_detections_come_grouped_in_large_batches(tmp_path):
    rng = np.random.default_rng(100)
    gt, det, _ = random_case(rng, tmp_path, n_videos=20, n_times=40)
    det.sort(key=lambda text: text.split(",")[:2])  # grouped by key, as files usually are
    result = evaluate(tmp_path, gt, det)
    mean_ap, _, _ = reference_frame_ap(tmp_path / "gt.csv", tmp_path / "det.csv", (A, B, C))
    assert result.mean_ap == pytest.approx(mean_ap, abs=1e-9)


def test_it_agrees_with_binary_search_lookups_for_sparse_keys(tmp_path, monkeypatch):
    # Dense lookup tables disabled: (video, time) and (key, class) lookups use binary search.
    monkeypatch.setattr(evaluation, "DENSE_TABLE_LIMIT", 0)
    rng = np.random.default_rng(7)
    gt, det, excluded = random_case(rng, tmp_path)
    gt.append(row("vid0", 4_000_000, (0.1, 0.1, 0.5, 0.5), A, 0))
    det.append(row("vid0", 4_000_000, (0.1, 0.1, 0.5, 0.5), A, 0.42))
    # keys between and beyond the ground truth's, to be ignored
    det += [row("vid0", t, (0.1, 0.1, 0.5, 0.5), A, 1.5 + t / 1e7) for t in (0, 950, 5_000_000)]
    result = evaluate(tmp_path, gt, det, excluded=excluded)
    mean_ap, _, _ = reference_frame_ap(
        tmp_path / "gt.csv", tmp_path / "det.csv", (A, B, C), excluded
    )
    assert result.mean_ap == pytest.approx(mean_ap, abs=1e-9)


def slices(rows, bounds):
    """The rows cut at the given positions, as separate batches."""
    parts = []
    for start, stop in zip([0, *bounds], [*bounds, len(rows)], strict=True):
        index = np.arange(start, stop)
        parts.append(
            dataclasses.replace(
                rows,
                video=rows.video[index],
                timestamp=rows.timestamp[index],
                box=rows.box[index],
                action=rows.action[index],
                value=rows.value[index],
                columns=rows.columns[index],
                line=rows.line[index],
            )
        )
    return parts


@pytest.mark.parametrize("grouped", [True, False])
def test_it_gives_the_same_result_however_detections_are_batched(tmp_path, grouped):
    rng = np.random.default_rng(11)
    gt, det, excluded = random_case(rng, tmp_path, n_videos=4, n_times=10)
    if grouped:
        det.sort(key=lambda text: text.split(",")[:2])
    whole = evaluate(tmp_path, gt, det, excluded=excluded)
    gt_rows = read_ava_csv(tmp_path / "gt.csv", "gt")
    det_rows = read_ava_csv(tmp_path / "det.csv", "predictions", validate=False)
    labelmap = parse_labelmap(LABELMAP_TEXT)
    for cuts in (1, 7, 60):  # batches cut inside keys as well as between them
        bounds = sorted(rng.choice(np.arange(1, len(det_rows)), cuts, replace=False).tolist())
        batched = evaluate_frame_ap(gt_rows, slices(det_rows, bounds), labelmap, excluded)
        assert batched.ap == whole.ap
    single = evaluate_frame_ap(gt_rows, det_rows, labelmap, excluded)
    assert single.ap == whole.ap


def test_it_reads_the_default_label_map_with_types_from_the_full_list(tmp_path):
    labelmap = read_labelmap(DEFAULT_LABELMAP)
    assert len(labelmap.actions) == 60
    gt = [row("v", 902, BOX, 1, 0), row("v", 902, BOX, 80, 0)]
    det = [row("v", 902, BOX, 1, 0.9)]
    (tmp_path / "gt.csv").write_text("".join(r + "\n" for r in gt))
    (tmp_path / "det.csv").write_text("".join(r + "\n" for r in det))
    result = evaluate_files(tmp_path / "gt.csv", tmp_path / "det.csv")
    assert result.ap[1] == 1.0 and result.ap[80] == 0.0 and result.ap[3] is None
    assert result.type_mean_ap == {"PERSON_MOVEMENT": 1.0, "PERSON_INTERACTION": 0.0}


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "inference", "evaluate", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_cli_prints_json_as_the_last_line(tmp_path):
    gt = [row("v", 902, BOX, A, 0), row("v", 902, BOX, B, 0)]
    (tmp_path / "gt.csv").write_text("".join(r + "\n" for r in gt))
    (tmp_path / "det.csv").write_text(row("v", 902, BOX, A, 0.9) + "\n")
    (tmp_path / "map.pbtxt").write_text(LABELMAP_TEXT)
    done = run_cli(
        "-g",
        tmp_path / "gt.csv",
        "-d",
        tmp_path / "det.csv",
        "-l",
        tmp_path / "map.pbtxt",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["mAP"] == 0.5
    assert report["per_class"] == {"1": 1.0, "2": 0.0, "3": None}
    assert "mAP@0.5IOU: 0.500000" in done.stdout


@pytest.mark.parametrize(
    ("which", "text", "message"),
    [
        ("det", "v,0902,0.1,0.1,0.5\n", "det.csv:1: expected 2, 7 or 8 columns, got 5"),
        (
            "det",
            "v,0902,0.1,0.1,0.5,0.9,1,0.5\nv,0902,0.1,abc,0.5,0.9,1,0.5\n",
            "det.csv:2: field 'y1' = 'abc': not a number",
        ),
        ("gt", "v,0902,0.1,0.1,0.5,0.9,,0\n", "gt.csv:1: field 'action_id' = '': not a number"),
        (
            "gt",
            "v,09.5,0.1,0.1,0.5,0.9,1,0\n",
            "gt.csv:1: field 'timestamp' = '09.5': not a whole number",
        ),
        ("excluded", "v,0902,0.1\n", "excluded.csv:1: expected 2 columns, got 3"),
        (
            "map",
            "labels {\n  name: 'x'\n}\n",
            "map.pbtxt:1: expected 'label' or 'item', got 'labels'",
        ),
    ],
)
def test_cli_rejects_bad_input_with_file_and_line(tmp_path, which, text, message):
    files = {
        "gt": row("v", 902, BOX, A, 0) + "\n",
        "det": row("v", 902, BOX, A, 0.9) + "\n",
        "excluded": "v,0903\n",
        "map": LABELMAP_TEXT,
    }
    files[which] = text
    names = {"gt": "gt.csv", "det": "det.csv", "excluded": "excluded.csv", "map": "map.pbtxt"}
    for key, name in names.items():
        (tmp_path / name).write_text(files[key])
    done = run_cli(
        "-g",
        tmp_path / "gt.csv",
        "-d",
        tmp_path / "det.csv",
        "-l",
        tmp_path / "map.pbtxt",
        "-e",
        tmp_path / "excluded.csv",
        "--json",
    )
    assert done.returncode == 1
    assert message in done.stderr
    assert str(tmp_path) in done.stderr
    assert done.stdout == ""


def test_cli_rejects_a_file_that_is_not_text(tmp_path):
    (tmp_path / "gt.csv").write_text(row("v", 902, BOX, A, 0) + "\n")
    packed = gzip.compress(b"v,0902,0.1,0.1,0.5,0.5,1,0.9\n" * 50, mtime=0)
    (tmp_path / "det.csv.gz").write_bytes(packed)
    done = run_cli("-g", tmp_path / "gt.csv", "-d", tmp_path / "det.csv.gz")
    assert done.returncode == 1
    assert f"error: {tmp_path / 'det.csv.gz'}:1: field 'timestamp' = " in done.stderr
    assert "Traceback" not in done.stderr and "Exception" not in done.stderr


def test_cli_reports_a_missing_file(tmp_path):
    done = run_cli("-g", tmp_path / "nope.csv", "-d", tmp_path / "nope.csv")
    assert done.returncode == 1
    assert "nope.csv" in done.stderr and "No such file" in done.stderr


@pytest.mark.parametrize("gt", [[], [row("v", 902, None)]])
def test_result_mean_is_nan_without_ground_truth(tmp_path, gt):
    result = evaluate(tmp_path, gt, [row("v", 902, BOX, A, 0.9)])
    assert math.isnan(result.mean_ap)
    assert result.ap == {A: None, B: None, C: None}
    assert result.to_json()["mAP"] is None


def test_it_scores_no_detections_as_zero(tmp_path):
    result = evaluate(tmp_path, [row("v", 902, BOX, A, 0)], [])
    assert result.ap == {A: 0.0, B: None, C: None}
    assert result.mean_ap == 0.0


def test_read_ahead_hands_over_items_and_errors_in_order_and_stops_its_thread():
    from inference.concurrency import read_ahead as _read_ahead

    def items():
        yield from range(3)
        raise ValueError("det.csv:4: broken")

    seen = []
    with pytest.raises(ValueError, match="det.csv:4"), _read_ahead(items(), 2) as ahead:
        seen.extend(ahead)
    assert seen == [0, 1, 2]

    produced = []

    def endless():
        while True:
            produced.append(len(produced))
            yield produced[-1]

    with _read_ahead(endless(), 2) as ahead:
        assert next(iter(ahead)) == 0
    count = len(produced)
    assert count <= 5  # one taken, two queued, one blocked, one being made
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
