from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.models import Job
from annotator.services.demo import demo_jobs, demo_seed_start

POLL_SECONDS = 2.0


class Command(BaseCommand):
    help = (
        "Seed the demo (a synthetic dataset, the shipped model, suggestions to review and an "
        "evaluation) through worker jobs when the instance has no video and no demo yet; print "
        "progress until its jobs end."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-wait", action="store_true", help="queue the seeding job and return"
        )
        parser.add_argument(
            "--timeout", type=float, default=1800.0, help="seconds to follow its jobs"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        job, reason = demo_seed_start()
        self.stdout.write(f"demo: {reason}")
        if job is None or options["no_wait"]:
            return
        deadline = time.monotonic() + options["timeout"]
        shown: dict[int, tuple[str, int, str]] = {}
        while True:
            jobs = demo_jobs(seed_job=job)
            for each in jobs:
                state = (each.status, round(each.progress * 100), each.message.splitlines()[0:1])
                line = (state[0], state[1], state[2][0] if state[2] else "")
                if shown.get(each.pk) != line:
                    shown[each.pk] = line
                    self.stdout.write(
                        f"demo: job {each.pk} {each.job_type} {line[0]} {line[1]}% {line[2]}"
                    )
            if all(each.status not in Job.ACTIVE for each in jobs):
                break
            if time.monotonic() > deadline:
                raise CommandError(f"demo: jobs still running after {options['timeout']:.0f} s")
            time.sleep(POLL_SECONDS)
        failed = [each for each in jobs if each.status != Job.Status.SUCCEEDED]
        if failed:
            names = "; ".join(
                f"job {each.pk} {each.job_type} {each.status}: {each.message}" for each in failed
            )
            raise CommandError(f"demo: seeding did not finish: {names}")
        self.stdout.write("demo: ready; log in and open the review queue and the dashboard")
