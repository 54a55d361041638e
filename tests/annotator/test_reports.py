"""The per-class comparison: figure order, gains, the two kinds of marks, CSV and JSON."""

from __future__ import annotations

import csv
import io

import pytest

from annotator.errors import ApplicationError
from annotator.models import EvaluationReport
from annotator.reports import comparison_csv, comparison_json, report_comparison
from tests.annotator.report_pairs import ABSOLUTE, CLASSES, ORDER, RELATIVE, report_pair

pytestmark = pytest.mark.django_db


def test_it_orders_by_gt_count_and_marks_the_largest_gains() -> None:
    baseline, report = report_pair()
    comparison = report_comparison(report_id=report.pk, baseline_id=baseline.pk)
    assert [row.action_id for row in comparison.classes] == ORDER
    assert {row.action_id for row in comparison.classes if row.absolute_mark} == ABSOLUTE
    assert {row.action_id for row in comparison.classes if row.relative_mark} == RELATIVE
    sit = comparison.classes[1]
    assert (sit.name, sit.gt_count, sit.ap, sit.baseline_ap) == ("sit", 40, 0.45, 0.30)
    assert sit.gain == pytest.approx(0.15) and sit.relative_gain == pytest.approx(0.5)
    fall = comparison.classes[2]
    assert fall.relative_gain is None  # baseline AP 0.5 % is under the 1 % floor
    assert comparison.baseline.model_name == "slow-only" and comparison.same_snapshot


def test_fewer_than_five_gains_mark_only_the_gains() -> None:
    baseline, report = report_pair()
    for action_id in (1, 2, 3, 4):  # B loses on these now: gains left on 6, 7, 8
        report.per_class[str(action_id)]["ap"] = 0.0
    report.save()
    comparison = report_comparison(report_id=report.pk, baseline_id=baseline.pk)
    assert {row.action_id for row in comparison.classes if row.absolute_mark} == {6, 7, 8}
    assert {row.action_id for row in comparison.classes if row.relative_mark} == {6, 7, 8}


def test_a_single_report_has_no_gains_or_marks() -> None:
    _, report = report_pair()
    comparison = report_comparison(report_id=report.pk)
    assert [row.action_id for row in comparison.classes] == ORDER
    assert not any(row.absolute_mark or row.relative_mark for row in comparison.classes)
    assert all(row.gain is None for row in comparison.classes)
    header = comparison_csv(comparison).splitlines()[0]
    assert header == "action_id,name,action_type,gt_count,ap"


def test_csv_and_json_carry_the_same_rows_in_the_same_order() -> None:
    baseline, report = report_pair()
    comparison = report_comparison(report_id=report.pk, baseline_id=baseline.pk)
    rows = list(csv.DictReader(io.StringIO(comparison_csv(comparison))))
    document = comparison_json(comparison)
    assert [int(row["action_id"]) for row in rows] == ORDER
    assert [row["action_id"] for row in document["classes"]] == ORDER
    assert rows[2]["relative_gain"] == "" and rows[2]["absolute_mark"] == "1"
    assert float(rows[5]["baseline_ap"]) == CLASSES[6][2]
    assert document["report"]["mean_ap"] == pytest.approx(report.mean_ap)
    assert document["marked"] == 5 and document["relative_floor"] == 0.01


def test_different_data_is_flagged_and_another_dataset_refused() -> None:
    baseline, report = report_pair()
    EvaluationReport.objects.filter(pk=baseline.pk).update(snapshot_hash="0" * 64)
    assert not report_comparison(report_id=report.pk, baseline_id=baseline.pk).same_snapshot
    stranger, _ = report_pair("elsewhere")
    with pytest.raises(ApplicationError, match="another dataset"):
        report_comparison(report_id=report.pk, baseline_id=stranger.pk)
