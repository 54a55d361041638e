"""The evaluation dashboard page: who may open it, its pickers, the default baseline."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.annotator.report_pairs import report_pair

pytestmark = pytest.mark.django_db


def test_it_needs_a_login_and_a_role() -> None:
    client = Client()
    assert client.get("/evaluation/").status_code == 302
    client.force_login(get_user_model().objects.create_user("nobody", password="x-123456789"))
    assert client.get("/evaluation/").status_code == 403


def test_without_reports_it_says_how_to_start_one(reviewer) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(reviewer)
    page = client.get("/evaluation/").content.decode()
    assert "No evaluation reports yet" in page and "evaluate/" in page
    assert "evaluation.js" not in page


def test_a_report_opens_against_its_own_baseline_unless_told_otherwise(reviewer) -> None:  # type: ignore[no-untyped-def]
    baseline, report = report_pair()
    client = Client()
    client.force_login(reviewer)
    context = client.get(f"/evaluation/?report={report.pk}").context
    assert (context["report"], context["baseline"]) == (report.pk, baseline.pk)
    context = client.get(f"/evaluation/?report={report.pk}&baseline=").context
    assert (context["report"], context["baseline"]) == (report.pk, None)
    context = client.get("/evaluation/?report=x&baseline=99999").context
    assert (context["report"], context["baseline"]) == (report.pk, None)  # the newest report
    options = context["options"]
    assert [option["id"] for option in options] == [report.pk, baseline.pk]
    assert options[0]["baseline"] == baseline.pk and options[1]["baseline"] == ""
    assert options[0]["label"].startswith(f"#{report.pk} slowfast · figure-3 · mAP ")


def test_an_older_report_asked_for_is_offered_too(reviewer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from annotator import views

    baseline, report = report_pair()
    monkeypatch.setattr(views, "DASHBOARD_REPORTS", 1)  # only the newest in the list
    client = Client()
    client.force_login(reviewer)
    context = client.get(f"/evaluation/?report={report.pk}&baseline={baseline.pk}").context
    assert [option["id"] for option in context["options"]] == [report.pk, baseline.pk]
    assert context["baseline"] == baseline.pk
