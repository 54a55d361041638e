"""Queue take at scale: `POST /api/v1/review/queue/` with `order=uncertain` (least confident
first) on a queue of 100,000 keyframes, p95 against the same take on 1,000 keyframes in the same
run and database (issue 15: under 50 ms p95); then the default order's take at 100,000, and the
peek (`GET`, which also counts the queue; the review page calls it to prefetch the next keyframe).

A fresh SQLite database (or, with `--database-url postgres://...`, that PostgreSQL database,
migrated and emptied first; its statistics are refreshed with ANALYZE after the keyframes are
made, as autovacuum would): one dataset, 100 videos, keyframes made with `bulk_create` (uncertainty
drawn at random, a tenth unscored, a third reviewed, a few assigned to other reviewers, a few gold
answered by the reviewer). The reviewer takes, then marks the keyframe reviewed outside the
timing, so each take reads a new head of the queue, as a reviewer working down it does. Requests
go through Django's test client in this process (the view, the service and the serializer; no
HTTP server). Prints the query plan of the take and one JSON line.
Usage: .venv/bin/python bench/queue_take.py [--keyframes 100000] [--reference 1000] [--takes 300]
       [--database-url postgres://USER:PASSWORD@HOST:PORT/NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORK = ROOT / "var" / "bench" / "queue_take"
VIDEOS = 100


def setup(database_url: str | None) -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{WORK / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)


def analyze() -> None:
    """Refresh PostgreSQL's planner statistics after a bulk insert (autovacuum's job, which may
    not have run yet); SQLite keeps the plans it chose without statistics."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def grow(dataset_id: int, total: int, others: list[int], reviewer_id: int, seed: int) -> None:
    """Add keyframes until the dataset has `total`, spread over its videos."""
    from django.utils import timezone

    from annotator.models import GoldAnswer, Keyframe, Video

    rng = random.Random(seed)
    videos = list(Video.objects.filter(dataset_id=dataset_id).order_by("pk"))
    have = Keyframe.objects.filter(video__dataset_id=dataset_id).count()
    rows = []
    for index in range(have, total):
        draw = rng.random()
        rows.append(
            Keyframe(
                video=videos[index % len(videos)],
                timestamp=index // len(videos),
                status="reviewed" if draw < 0.33 else "unreviewed",
                uncertainty=None if rng.random() < 0.1 else rng.random() * 4.0,
                assignee_id=rng.choice(others) if rng.random() < 0.02 else None,
                gold=rng.random() < 0.01,
            )
        )
    Keyframe.objects.bulk_create(rows, batch_size=5000)
    answered = Keyframe.objects.filter(video__dataset_id=dataset_id, gold=True)
    GoldAnswer.objects.bulk_create(
        [
            GoldAnswer(keyframe_id=pk, reviewer_id=reviewer_id, submitted_at=timezone.now())
            for pk in answered.values_list("pk", flat=True)[::2]
        ],
        ignore_conflicts=True,
    )


def summary(times: list[float]) -> dict[str, float]:
    """p50, p95 and max of `times` (milliseconds)."""
    times = sorted(times)
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
        "max_ms": round(times[-1], 2),
    }


def measure(client, takes: int, order: str = "uncertain") -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Milliseconds per take (after 10 untimed ones): p50, p95, max."""
    from annotator.models import Keyframe

    times = []
    for index in range(takes + 10):
        start = time.perf_counter()
        response = client.post("/api/v1/review/queue/", {"order": order}, format="json")
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.content
        taken = response.json()["keyframe"]
        assert taken is not None, "the queue ran dry"
        Keyframe.objects.filter(pk=taken).update(status="reviewed")
        if index >= 10:
            times.append(elapsed * 1000)
    return summary(times)


def measure_peek(client, peeks: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Milliseconds per peek in the uncertain order (after 10 untimed ones): p50, p95, max."""
    times = []
    for index in range(peeks + 10):
        start = time.perf_counter()
        response = client.get("/api/v1/review/queue/", {"order": "uncertain"})
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.content
        assert response.json()["next"] is not None, "the queue ran dry"
        if index >= 10:
            times.append(elapsed * 1000)
    return summary(times)


def query_plans(user) -> str:  # type: ignore[no-untyped-def]
    """The database's plan of each query that reads the head of the queue."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotator.services.review import review_queue_head

    with CaptureQueriesContext(connection) as queries:
        review_queue_head(user=user, order="uncertain")
        review_queue_head(user=user, order="default")
    plans = []
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            explain = "EXPLAIN" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
            cursor.execute(f"{explain} {query['sql']}")
            plans.append("; ".join(str(row[-1]) for row in cursor.fetchall()))
    return "\n".join(plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keyframes", type=int, default=100_000)
    parser.add_argument("--reference", type=int, default=1_000)
    parser.add_argument("--takes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", help="a PostgreSQL database to use (it is emptied)")
    args = parser.parse_args()
    setup(args.database_url)
    from django.db import connection
    from rest_framework.test import APIClient

    from annotator.models import Dataset, Video
    from annotator.services.users import user_create

    reviewer = user_create(username="rob", role="reviewer", password="queue-take-pw")
    others = [
        user_create(username=f"other{i}", role="reviewer", password="queue-take-pw").pk
        for i in range(5)
    ]
    dataset = Dataset.objects.create(name="queue")
    Video.objects.bulk_create(
        [Video(dataset=dataset, video_id=f"v{i:03d}", status="ready") for i in range(VIDEOS)]
    )
    client = APIClient()
    client.force_authenticate(reviewer)

    grow(dataset.pk, args.reference, others, reviewer.pk, args.seed)
    analyze()
    reference = measure(client, args.takes)
    reference_peek = measure_peek(client, args.takes)
    started = time.perf_counter()
    grow(dataset.pk, args.keyframes, others, reviewer.pk, args.seed + 1)
    build_s = time.perf_counter() - started
    analyze()
    print(query_plans(reviewer), file=sys.stderr)
    at_scale = measure(client, args.takes)
    default_order = measure(client, args.takes, order="default")
    peek = measure_peek(client, args.takes)
    print(
        json.dumps(
            {
                "database": connection.vendor,
                "keyframes": args.keyframes,
                "build_s": round(build_s, 1),
                "take": at_scale,
                "reference_keyframes": args.reference,
                "reference_take": reference,
                "default_order_take": default_order,
                "peek": peek,
                "reference_peek": reference_peek,
                "target_p95_ms": 50,
                "met": at_scale["p95_ms"] < 50,
                "machine": f"{platform.machine()} {os.cpu_count()} CPUs, "
                f"load average {os.getloadavg()[0]:.1f}",
            }
        )
    )


if __name__ == "__main__":
    main()
