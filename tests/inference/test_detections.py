"""Evaluation rows from plain ids and coordinates: ground truth with a 2-column row per keyframe,
detection rows a batch of boxes at a time (score vectors and scored labels), the ground-truth
box that lends its scores, and what the evaluator makes of the rows."""

from __future__ import annotations

import numpy as np
import pytest

from inference.ava import ActionLabel, LabelMap
from inference.detections import (
    Detections,
    EvaluationSet,
    ground_truth_rows,
    on_ground_truth,
    snapshot_sha256,
)
from inference.evaluation import evaluate_frame_ap

SET = EvaluationSet(videos=("a", "b"), keys={10: (0, 902), 11: (0, 903), 20: (1, 902)})
LABELMAP = LabelMap(actions=(ActionLabel(1, "stand", "PERSON_MOVEMENT"), ActionLabel(2, "sit")))
BOX = (0.1, 0.1, 0.5, 0.9)


def test_ground_truth_has_its_rows_and_a_two_column_row_per_keyframe():
    rows = ground_truth_rows(SET, [10, 20], [BOX, BOX], [1, 2], [7, 8])
    assert rows.videos == ("a", "b")
    assert rows.video.tolist() == [0, 1, 0, 0, 1]
    assert rows.timestamp.tolist() == [902, 902, 902, 903, 902]
    assert rows.action.tolist()[:2] == [1, 2] and rows.columns.tolist() == [8, 8, 2, 2, 2]
    assert rows.value.tolist()[:2] == [7.0, 8.0] and np.isnan(rows.box[2:]).all()


def test_detection_rows_come_from_vectors_and_labels_a_batch_of_boxes_at_a_time():
    vector_ids = np.array([1, 2, 3])  # action 3 is not in the label map: not scored
    detections = Detections(
        boxes=[(100, 10, BOX), (101, 11, BOX), (102, 20, BOX)],
        vectors={
            100: np.array([0.9, 0.1, 0.5], np.float16).tobytes(),
            102: np.array([0.2, 0.7, 0.5], np.float16).tobytes(),
        },
        labels={101: [(2, 0.6)]},
        vector_ids=vector_ids,
        lacking=set(),
    )
    batches = list(detections.batches(SET, LABELMAP, size=2))
    assert len(batches) == 2
    first, second = batches
    assert first.action.tolist() == [1, 2, 2]  # box 100's vector, then box 101's label
    assert first.value.tolist() == pytest.approx([0.9, 0.1, 0.6], abs=1e-3)
    assert first.timestamp.tolist() == [902, 902, 903]
    assert second.video.tolist() == [1, 1] and second.action.tolist() == [1, 2]

    truth = ground_truth_rows(SET, [10, 11, 20], [BOX, BOX, BOX], [1, 2, 2], [1, 2, 3])
    result = evaluate_frame_ap(truth, iter(batches), LABELMAP)
    assert result.ap[1] == pytest.approx(1.0)  # the only stand box outscores the false one
    assert result.ap[2] == pytest.approx(1.0)  # 0.7 and 0.6 hit; 0.1 on keyframe 10 is false


def test_a_ground_truth_box_takes_its_own_scores_else_those_of_a_box_at_the_same_place():
    truth = {1: (10, BOX), 2: (10, (0.6, 0.1, 0.9, 0.9)), 3: (11, BOX)}
    placed = {1: (10, BOX), 50: (10, (0.6004, 0.1, 0.9, 0.9)), 51: (20, BOX)}
    assert on_ground_truth(truth, placed, scored={1, 50, 51}) == {1: 1, 2: 50}


def test_the_snapshot_hash_ignores_database_ids_and_row_order():
    records = [("a", 902, *BOX, 1, 7), ("b", 902, *BOX, 2, 8)]
    renumbered = EvaluationSet(videos=("a", "b"), keys={5: (1, 902), 6: (0, 903), 7: (0, 902)})
    assert snapshot_sha256(LABELMAP, SET, records) == snapshot_sha256(
        LABELMAP, renumbered, records[::-1]
    )
    assert snapshot_sha256(LABELMAP, SET, records) != snapshot_sha256(LABELMAP, SET, records[:1])
