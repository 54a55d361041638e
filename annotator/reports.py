"""Evaluation report reads: the per-class comparison behind the dashboard and its downloads.

Figure 3 of the SlowFast paper: per class, the AP of a baseline (model A) and of model B, classes
sorted by ground-truth count (most first), the 5 largest absolute gains and the 5 largest relative
gains among classes whose baseline AP is above 1 % marked. The ranking and the marks are decided
once, by `inference.figures.compare_classes`; the JSON the page draws its table from, the SVG and
PNG figures and the CSV all read this one `Comparison`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import Any

from django.shortcuts import get_object_or_404

from annotator.errors import ApplicationError
from annotator.models import Action, EvaluationReport
from inference.figures import (
    MARKED,
    RELATIVE_FLOOR,
    ClassRow,
    Comparison,
    ReportSummary,
    compare_classes,
)

__all__ = ["ClassRow", "Comparison", "ReportSummary", "comparison_csv", "comparison_json"]


def _summary(report: EvaluationReport) -> ReportSummary:
    return ReportSummary(
        id=report.pk,
        model_version=report.model_version_id,
        model_name=report.model_version.name,
        mean_ap=report.mean_ap,
        per_type=dict(report.per_type or {}),
        box_source=report.box_source,
        snapshot_hash=report.snapshot_hash,
        keyframes=(report.params or {}).get("keyframes"),
        created_at=report.created_at.isoformat(),
    )


def report_comparison(*, report_id: int, baseline_id: int | None = None) -> Comparison:
    """Report `report_id` (B) per class in figure order, with gains and marks against A."""
    queryset = EvaluationReport.objects.select_related("model_version")
    report = get_object_or_404(queryset, pk=report_id)
    baseline = None
    if baseline_id is not None:
        baseline = queryset.filter(pk=baseline_id).first()
        if baseline is None:
            raise ApplicationError(f"baseline = {baseline_id}: no such evaluation report")
        if baseline.dataset_id != report.dataset_id:
            raise ApplicationError(
                f"baseline = {baseline_id}: report of another dataset than report {report_id}"
            )
    actions = {
        action.action_id: (action.name, action.action_type)
        for action in Action.objects.filter(dataset_id=report.dataset_id)
    }
    classes = compare_classes(
        {int(key): value for key, value in report.per_class.items()},
        {int(key): value for key, value in baseline.per_class.items()} if baseline else None,
        actions,
    )
    return Comparison(
        report=_summary(report),
        baseline=_summary(baseline) if baseline else None,
        classes=classes,
    )


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison as JSON: what the dashboard draws and the JSON download."""
    return {
        "report": asdict(comparison.report),
        "baseline": asdict(comparison.baseline) if comparison.baseline else None,
        "same_snapshot": comparison.same_snapshot,
        "marked": MARKED,
        "relative_floor": RELATIVE_FLOOR,
        "classes": [asdict(row) for row in comparison.classes],
    }


CSV_COLUMNS = (
    "action_id",
    "name",
    "action_type",
    "gt_count",
    "baseline_ap",
    "ap",
    "gain",
    "relative_gain",
    "absolute_mark",
    "relative_mark",
)


def comparison_csv(comparison: Comparison) -> str:
    """The table as CSV, in figure order (a single report leaves the baseline columns out)."""
    columns = [
        name
        for name in CSV_COLUMNS
        if comparison.baseline is not None
        or name not in ("baseline_ap", "gain", "relative_gain", "absolute_mark", "relative_mark")
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in comparison.classes:
        values = asdict(row)
        writer.writerow([_cell(values[name]) for name in columns])
    return out.getvalue()


# A spreadsheet reads a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(text: str) -> str:
    """Text for a CSV meant for people: a leading formula character is neutralised by a quote."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return csv_safe(value)
    return int(value) if isinstance(value, bool) else value
