"""Datasets and label maps over REST and the import_labelmap command."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from annotator.models import Action, Dataset
from inference.ava import parse_labelmap
from tests.conftest import LABEL_MAPS

pytestmark = pytest.mark.django_db


def test_the_default_dataset_has_80_actions_60_evaluated(ava_dataset) -> None:  # type: ignore[no-untyped-def]
    actions = Action.objects.filter(dataset=ava_dataset)
    assert actions.count() == 80
    assert actions.filter(evaluated=True).count() == 60
    assert actions.get(action_id=12).action_type == "PERSON_MOVEMENT"
    assert ava_dataset.review_rules["PERSON_MOVEMENT"] == {"min": 1, "max": 1}


def test_labelmap_download_round_trips_the_official_file(reviewer_client, ava_dataset) -> None:  # type: ignore[no-untyped-def]
    response = reviewer_client.get(f"/api/v1/datasets/{ava_dataset.pk}/labelmap/")

    assert response.status_code == 200
    official = parse_labelmap((LABEL_MAPS / "ava_action_list_v2.2.pbtxt").read_text())
    assert parse_labelmap(response.content.decode()) == official


def test_a_manager_creates_a_dataset_and_uploads_a_custom_taxonomy(manager_client) -> None:  # type: ignore[no-untyped-def]
    created = manager_client.post(
        "/api/v1/datasets/", {"name": "gym", "review_rules": {}}, format="json"
    )
    assert created.status_code == 201, created.json()
    pbtxt = b'item {\n  name: "lift"\n  id: 1\n}\nitem {\n  name: "drop"\n  id: 2\n}\n'

    response = manager_client.post(
        f"/api/v1/datasets/{created.json()['id']}/labelmap/",
        {"file": SimpleUploadedFile("gym.pbtxt", pbtxt)},
        format="multipart",
    )

    assert response.status_code == 200, response.json()
    assert list(
        Action.objects.filter(dataset__name="gym").values_list("action_id", "name", "action_type")
    ) == [
        (1, "lift", "OTHER"),
        (2, "drop", "OTHER"),
    ]


def test_bad_review_rules_and_bad_label_maps_are_400(manager_client, ava_dataset) -> None:  # type: ignore[no-untyped-def]
    bad_rules = manager_client.post(
        "/api/v1/datasets/", {"name": "x", "review_rules": {"POSE": {"max": 1}}}, format="json"
    )
    assert bad_rules.status_code == 400 and "POSE" in bad_rules.json()["detail"]
    bad_map = manager_client.post(
        f"/api/v1/datasets/{ava_dataset.pk}/labelmap/",
        {"file": SimpleUploadedFile("x.pbtxt", b"label { name: }")},
        format="multipart",
    )
    assert bad_map.status_code == 400
    assert not Dataset.objects.filter(name="x").exists()


def test_import_labelmap_command_creates_the_dataset(capsys) -> None:  # type: ignore[no-untyped-def]
    call_command(
        "import_labelmap",
        str(LABEL_MAPS / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"),
        dataset="ava60",
    )

    assert Action.objects.filter(dataset__name="ava60").count() == 60
    assert "60 actions" in capsys.readouterr().out
