"""Evaluation report reads: the per-class comparison behind the dashboard and its downloads.

Figure 3 of the SlowFast paper: per class, the AP of a baseline (model A) and of model B, classes
sorted by ground-truth count (most first), the 5 largest absolute gains and the 5 largest relative
gains among classes whose baseline AP is above 1 % marked. The ranking and the marks are decided
here, once; the JSON the page draws its table from, the SVG and PNG figures and the CSV all read
this one `Comparison`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from typing import Any

from django.shortcuts import get_object_or_404

from annotator.errors import ApplicationError
from annotator.models import Action, EvaluationReport

MARKED = 5  # classes marked per kind of gain
RELATIVE_FLOOR = 0.01  # relative gains count only above this baseline AP (1 %)


@dataclass(frozen=True)
class ReportSummary:
    """What the legend and the table header say about one report."""

    id: int
    model_version: int
    model_name: str
    mean_ap: float | None
    per_type: dict[str, float]
    box_source: str
    snapshot_hash: str
    keyframes: int | None
    created_at: str


@dataclass(frozen=True)
class ClassRow:
    """One class of the figure: AP of B (and of baseline A), gains and marks."""

    action_id: int
    name: str
    action_type: str
    gt_count: int
    ap: float
    baseline_ap: float | None
    gain: float | None  # ap - baseline_ap
    relative_gain: float | None  # gain / baseline_ap, where baseline_ap > RELATIVE_FLOOR
    absolute_mark: bool
    relative_mark: bool


@dataclass(frozen=True)
class Comparison:
    """Report B alone, or against baseline A; classes in figure order."""

    report: ReportSummary
    baseline: ReportSummary | None
    classes: tuple[ClassRow, ...]

    @property
    def same_snapshot(self) -> bool:
        """Whether both reports scored the same data (only then are their APs comparable)."""
        return self.baseline is None or self.baseline.snapshot_hash == self.report.snapshot_hash


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


def _top(values: dict[int, float], order: dict[int, int]) -> set[int]:
    """The MARKED classes with the largest positive values (ties: figure order)."""
    positive = [action_id for action_id, value in values.items() if value > 0]
    positive.sort(key=lambda action_id: (-values[action_id], order[action_id]))
    return set(positive[:MARKED])


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
        action.action_id: action for action in Action.objects.filter(dataset_id=report.dataset_id)
    }
    base_ap = {
        int(key): value.get("ap") for key, value in (baseline.per_class if baseline else {}).items()
    }
    measured = [
        (int(key), value) for key, value in report.per_class.items() if value.get("ap") is not None
    ]
    measured.sort(key=lambda item: (-int(item[1].get("gt_count", 0)), item[0]))
    order = {action_id: position for position, (action_id, _) in enumerate(measured)}

    gains: dict[int, float] = {}
    relative: dict[int, float] = {}
    for action_id, value in measured:
        before = base_ap.get(action_id)
        if before is not None:
            gains[action_id] = value["ap"] - before
            if before > RELATIVE_FLOOR:
                relative[action_id] = gains[action_id] / before
    absolute_marks, relative_marks = _top(gains, order), _top(relative, order)

    classes = []
    for action_id, value in measured:
        action = actions.get(action_id)
        classes.append(
            ClassRow(
                action_id=action_id,
                name=action.name if action else str(action_id),
                action_type=action.action_type if action else "",
                gt_count=int(value.get("gt_count", 0)),
                ap=value["ap"],
                baseline_ap=base_ap.get(action_id),
                gain=gains.get(action_id),
                relative_gain=relative.get(action_id),
                absolute_mark=action_id in absolute_marks,
                relative_mark=action_id in relative_marks,
            )
        )
    return Comparison(
        report=_summary(report),
        baseline=_summary(baseline) if baseline else None,
        classes=tuple(classes),
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
