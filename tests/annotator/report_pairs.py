"""A baseline and a model report over eight classes whose order and marks are worked out by hand
(shared by the report, figure and dashboard tests)."""

from __future__ import annotations

from annotator.models import Action, ActionType, Dataset, EvaluationReport, ModelVersion

# action id: (name, GT count, AP of baseline A, AP of model B); class 9 has no GT (no AP).
CLASSES = {
    1: ("stand", 50, 0.60, 0.62),  # gain .02, relative .033
    2: ("sit", 40, 0.30, 0.45),  # gain .15, relative .5
    3: ("fall down", 30, 0.005, 0.10),  # gain .095; baseline <= 1 %: no relative gain
    4: ("talk to (a person)", 20, 0.20, 0.28),  # gain .08, relative .4
    5: ("carry/hold (an object)", 10, 0.50, 0.40),  # a loss
    6: ("hand wave", 8, 0.10, 0.30),  # gain .20, relative 2
    7: ("answer phone", 5, 0.40, 0.41),  # gain .01, relative .025
    8: ("kiss (a person)", 3, 0.05, 0.06),  # gain .01, relative .2
    9: ("swim", 0, None, None),
}
ORDER = [1, 2, 3, 4, 5, 6, 7, 8]  # by GT count, most first; class 9 has no AP
ABSOLUTE = {6, 2, 3, 4, 1}  # 5 largest gains: .20 .15 .095 .08 .02
RELATIVE = {6, 2, 4, 8, 1}  # 5 largest relative gains with A > 1 %: 2 .5 .4 .2 .033


def report_pair(dataset_name: str = "figure-3") -> tuple[EvaluationReport, EvaluationReport]:
    """(baseline A, model B) reports of one evaluation job, as the job writes them."""
    dataset = Dataset.objects.create(name=dataset_name)
    for action_id, (name, *_) in CLASSES.items():
        Action.objects.create(
            dataset=dataset, action_id=action_id, name=name, action_type=ActionType.PERSON_MOVEMENT
        )
    reports = []
    for position, name in ((2, "slow-only"), (3, "slowfast")):
        version = ModelVersion.objects.create(dataset=dataset, name=name, status="external")
        per_class = {
            str(action_id): {"ap": row[position], "gt_count": row[1], "detections": 10}
            for action_id, row in CLASSES.items()
        }
        measured = [row[position] for row in CLASSES.values() if row[position] is not None]
        params = {"keyframes": 120, "role": "baseline" if not reports else "model"}
        if reports:
            params["baseline_report"] = reports[0].pk
        reports.append(
            EvaluationReport.objects.create(
                dataset=dataset,
                model_version=version,
                box_source="detections",
                snapshot_hash="f" * 64,
                params=params,
                mean_ap=sum(measured) / len(measured),
                per_class=per_class,
            )
        )
    return reports[0], reports[1]
