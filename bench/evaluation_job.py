"""Evaluation job at AVA-validation scale: the job's in-memory columns against the CSV round trip.

A generated dataset in a fresh SQLite database (AVA v2.2 taxonomy; by default 60 videos x 900
reviewed keyframes, 1-3 people with a pose and 0-3 other actions each, and for two model versions
one detector box near each person plus one stray box per keyframe, each with the version's
80-class float16 score vector) is evaluated twice, each in its own child process timed on its own
(wall time, CPU time, peak RSS from wait4):

- job: `evaluation_start` of both versions with the task run eagerly in the process (what a worker
  does: read the set, build columns, score, write two reports);
- reference: the CSV round trip, i.e. `ava_export_lines` of the ground truth and of each version's
  scores to files, then `inference.evaluation.evaluate_files` on them.

Their per-class APs must agree to 1e-6. Usage:
    .venv/bin/python bench/evaluation_job.py [--videos 60] [--keyframes 900] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench" / "evaluation_job"


def django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()


def populate(videos: int, keyframes: int, seed: int = 0) -> None:
    """The generated dataset, written with plain executemany (seconds, not minutes)."""
    import numpy as np
    from django.core.management import call_command
    from django.db import transaction

    from annotator.models import Action, BoxScore, Keyframe, ModelVersion, PersonBox, Video
    from annotator.services.bulk import ids_reserve, rows_insert
    from annotator.services.datasets import dataset_create_default

    call_command("migrate", verbosity=0)
    rng = np.random.default_rng(seed)
    dataset = dataset_create_default()
    actions = dict(Action.objects.filter(dataset=dataset).values_list("action_id", "pk"))
    ids = np.array(sorted(actions))
    poses, others = ids[ids <= 14], ids[ids > 14]
    label_map = [{"id": int(i)} for i in ids]
    versions = [
        ModelVersion.objects.create(
            dataset=dataset, name=name, status="external", label_map=label_map
        )
        for name in ("baseline", "model")
    ]
    with transaction.atomic():
        video_pks = [
            Video.objects.create(dataset=dataset, video_id=f"video{v:03d}", status="ready").pk
            for v in range(videos)
        ]
        rows_insert(
            Keyframe,
            ("video_id", "timestamp", "status", "version", "excluded", "gold"),
            [
                (pk, 902 + t, "reviewed", 1, False, False)
                for pk in video_pks
                for t in range(keyframes)
            ],
        )
        keyframe_pks = list(Keyframe.objects.order_by("pk").values_list("pk", flat=True))
        box_columns = (
            "id",
            "keyframe_id",
            "person_id",
            "x1",
            "y1",
            "x2",
            "y2",
            "source",
            "state",
            "created_at",
            "updated_at",
        )
        boxes, labels, now = [], [], "2026-11-28 00:00:00"
        vectors: list[tuple[int, int, bytes]] = []  # (box index, version pk, float16 scores)
        for keyframe_pk in keyframe_pks:
            for person in range(int(rng.integers(1, 4))):
                x1, y1 = rng.uniform(0, 0.6), rng.uniform(0, 0.5)
                # on AVA's 3-decimal grid, so that the CSV round trip loses nothing
                box = tuple(
                    np.round([x1, y1, x1 + rng.uniform(0.1, 0.4), y1 + rng.uniform(0.2, 0.5)], 3)
                )
                truth = [
                    int(rng.choice(poses)),
                    *rng.choice(others, int(rng.integers(0, 4)), False),
                ]
                boxes.append([keyframe_pk, person, *box, "human", "accepted", now, now])
                labels.append((len(boxes) - 1, truth))
                for strength, version in zip((0.35, 0.5), versions, strict=True):
                    scores = rng.uniform(0, 0.4, len(ids))
                    scores[np.searchsorted(ids, truth)] += rng.uniform(0, strength * 2, len(truth))
                    near = np.clip(np.round(np.array(box) + rng.normal(0, 0.02, 4), 3), 0, 1)
                    if near[0] < near[2] and near[1] < near[3]:
                        boxes.append([keyframe_pk, None, *near, "detector", "suggested", now, now])
                        vectors.append(
                            (len(boxes) - 1, version.pk, scores.astype(np.float16).tobytes())
                        )
            for version in versions:
                x1, y1 = round(rng.uniform(0, 0.7), 3), round(rng.uniform(0, 0.5), 3)
                stray = (x1, y1, x1 + 0.2, y1 + 0.4)
                scores = rng.uniform(0, 0.5, len(ids)).astype(np.float16).tobytes()
                boxes.append([keyframe_pk, None, *stray, "detector", "suggested", now, now])
                vectors.append((len(boxes) - 1, version.pk, scores))
        for row, pk in zip(boxes, ids_reserve(PersonBox, len(boxes)), strict=True):
            row.insert(0, pk)
        rows_insert(PersonBox, box_columns, boxes)
        rows_insert(
            BoxScore,
            ("id", "box_id", "model_version_id", "scores", "created_at"),
            [
                (pk, boxes[i][0], version, scores, now)
                for pk, (i, version, scores) in zip(
                    ids_reserve(BoxScore, len(vectors)), vectors, strict=True
                )
            ],
        )
        label_ids = iter(
            ids_reserve(PersonBox.labels.rel.related_model, sum(len(t) for _, t in labels))
        )
        rows_insert(
            PersonBox.labels.rel.related_model,
            ("id", "box_id", "action_id", "source", "state", "score"),
            [
                (next(label_ids), boxes[i][0], actions[a], "human", "accepted", None)
                for i, truth in labels
                for a in truth
            ],
        )
    print(json.dumps({"keyframes": len(keyframe_pks), "boxes": len(boxes)}))


def run_job() -> None:
    from annotator.models import EvaluationReport, ModelVersion
    from annotator.services.datasets import dataset_create_default
    from annotator.services.evaluation import evaluation_start

    dataset = dataset_create_default()
    baseline, model = (
        ModelVersion.objects.get(dataset=dataset, name=n) for n in ("baseline", "model")
    )
    job = evaluation_start(dataset=dataset, model_version=model, baseline=baseline)
    job.refresh_from_db()
    assert job.status == "succeeded", job.message
    reports = [EvaluationReport.objects.get(pk=pk) for pk in job.result["reports"]]
    print(json.dumps([{k: v["ap"] for k, v in r.per_class.items()} for r in reports]))


def run_reference() -> None:
    from annotator.models import ModelVersion
    from annotator.selectors import ava_export_lines
    from annotator.services.datasets import dataset_create_default
    from annotator.services.evaluation import dataset_labelmap
    from inference.ava import write_labelmap
    from inference.evaluation import evaluate_files

    dataset = dataset_create_default()
    gt = WORK / "gt.csv"
    with gt.open("w") as handle:
        handle.writelines(ava_export_lines(dataset=dataset))
    labelmap = WORK / "labelmap.pbtxt"
    write_labelmap(labelmap, dataset_labelmap(dataset=dataset))
    aps = []
    for name in ("baseline", "model"):
        version = ModelVersion.objects.get(dataset=dataset, name=name)
        detections = WORK / f"{name}.csv"
        with detections.open("w") as handle:
            handle.writelines(
                ava_export_lines(dataset=dataset, source="model", model_version=version)
            )
        result = evaluate_files(gt, detections, labelmap)
        aps.append({str(k): v for k, v in result.ap.items()})
    print(json.dumps(aps))


def measured(step: str, env: dict[str, str], *extra: str) -> tuple[float, float, float, str]:
    """Run this script's `step` in a child: wall s, CPU s, peak RSS MB, its stdout."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--step", step, *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        raise SystemExit(f"{step} failed ({status})")
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=60)
    parser.add_argument("--keyframes", type=int, default=900)
    parser.add_argument("--keep", action="store_true", help="reuse the generated database")
    parser.add_argument("--step", choices=["populate", "job", "reference"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    database = WORK / "db.sqlite3"
    if args.step:
        django_setup()
        if args.step == "populate":
            populate(args.videos, args.keyframes)
        else:
            (run_job if args.step == "job" else run_reference)()
        return 0
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_DEBUG": "false",
        "CELERY_TASK_ALWAYS_EAGER": "true",  # the task runs in the child, as a worker runs it
    }
    if not (args.keep and database.exists()):
        database.unlink(missing_ok=True)
        size = ("--videos", str(args.videos), "--keyframes", str(args.keyframes))
        wall, _, _, output = measured("populate", env, *size)
        print(f"populated in {wall:.1f} s: {output}", file=sys.stderr)
    job = measured("job", env)
    reference = measured("reference", env)
    ours, theirs = json.loads(job[3]), json.loads(reference[3])
    worst = max(
        abs((a or 0.0) - (b or 0.0))
        for mine, other in zip(ours, theirs, strict=True)
        for a, b in zip(
            (mine[k] for k in sorted(mine)), (other[k] for k in sorted(mine)), strict=True
        )
    )
    print("| what | wall | CPU | peak RSS |\n|---|---|---|---|")
    for name, (wall, cpu, rss, _) in (
        ("evaluation job (2 versions)", job),
        ("reference: export CSVs + evaluate_files", reference),
    ):
        print(f"| {name} | {wall:.1f} s | {cpu:.1f} s | {rss:.0f} MB |")
    print(f"largest per-class AP difference: {worst:.2e}")
    return 0 if worst <= 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
