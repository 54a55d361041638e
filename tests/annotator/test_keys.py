"""Remappable keys over REST: stored per user, conflicts refused naming both commands, reset; the
server's defaults are the review page's (static/js/review/keys.js)."""

from __future__ import annotations

import re

from annotator.models import ReviewerSettings
from annotator.services.keys import DEFAULT_KEYS
from tests.conftest import ROOT

API = "/api/v1/me/keys/"


def test_the_server_defaults_are_the_pages_defaults() -> None:
    source = (ROOT / "static/js/review/keys.js").read_text()
    rows = re.findall(r'^\s*\["((?:[^"\\]|\\.)*)", "(\w+)", "', source, flags=re.MULTILINE)
    assert {command: key for key, command in rows} == DEFAULT_KEYS


def test_a_reviewer_remaps_keys_a_conflict_is_refused_and_reset_restores(
    reviewer_client, other_reviewer, reviewer
):  # type: ignore[no-untyped-def]
    assert reviewer_client.get(API).json()["bindings"] == DEFAULT_KEYS
    response = reviewer_client.put(API, {"bindings": {"draw": "b"}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["bindings"]["draw"] == "b"
    assert ReviewerSettings.objects.get(user=reviewer).key_bindings == {"draw": "b"}
    assert not ReviewerSettings.objects.filter(user=other_reviewer).exists()

    response = reviewer_client.put(API, {"bindings": {"draw": "a"}}, format="json")
    assert response.status_code == 400
    assert "a is bound to both acceptBox and draw" in response.json()["detail"]
    assert ReviewerSettings.objects.get(user=reviewer).key_bindings == {"draw": "b"}
    for bad in ({"fly": "q"}, {"draw": "two words"}, {"draw": ""}):
        assert reviewer_client.put(API, {"bindings": bad}, format="json").status_code == 400

    # Swapping two keys in one request is no conflict.
    swap = {"acceptBox": "r", "rejectBox": "a"}
    assert reviewer_client.put(API, {"bindings": swap}, format="json").status_code == 200
    assert reviewer_client.get(API).json()["bindings"]["rejectBox"] == "a"

    response = reviewer_client.delete(API)
    assert response.json()["bindings"] == DEFAULT_KEYS
    assert ReviewerSettings.objects.get(user=reviewer).key_bindings == {}
