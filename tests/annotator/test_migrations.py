"""Data migrations keep what is in the database: 0002 moves each box's score vector to a
`BoxScore` of the version that wrote it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("annotator", "0001_initial")]
AFTER = [("annotator", "0002_box_scores_per_version")]


def latest():  # type: ignore[no-untyped-def]
    """Every app's newest migration: the schema every other test expects."""
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def migrate(targets):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_0002_moves_score_vectors_to_their_versions_box_scores() -> None:
    old = migrate(BEFORE)
    try:
        dataset = old.get_model("annotator", "Dataset").objects.create(name="m")
        video = old.get_model("annotator", "Video").objects.create(dataset=dataset, video_id="x")
        keyframe = old.get_model("annotator", "Keyframe").objects.create(video=video, timestamp=1)
        version = old.get_model("annotator", "ModelVersion").objects.create(
            dataset=dataset, name="a"
        )
        box = old.get_model("annotator", "PersonBox").objects
        fields = {"keyframe": keyframe, "x1": 0.1, "y1": 0.1, "x2": 0.5, "y2": 0.9}
        detected = box.create(source="detector", model_version=version, scores=b"\x00<", **fields)
        drawn = box.create(
            source="human", state="accepted", model_version=version, scores=b"\x008", **fields
        )
        predicted = box.create(source="model", model_version=version, **fields)
        unscored = box.create(source="detector", **fields)

        new = migrate(AFTER)
    finally:
        migrate(latest())  # leave the test database as every other test expects it

    scores = new.get_model("annotator", "BoxScore").objects
    rows = scores.values_list("box_id", "model_version_id", "scores")
    assert {(box_pk, version_pk, bytes(vector)) for box_pk, version_pk, vector in rows} == {
        (detected.pk, version.pk, b"\x00<"),
        (drawn.pk, version.pk, b"\x008"),
    }
    boxes = new.get_model("annotator", "PersonBox").objects
    assert dict(boxes.values_list("pk", "model_version_id")) == {
        detected.pk: None,
        drawn.pk: None,
        predicted.pk: version.pk,  # an imported predictions file's box stays the version's
        unscored.pk: None,
    }
