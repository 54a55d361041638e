from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.errors import ApplicationError
from annotator.models import Dataset
from annotator.services.training_export import DEFAULT_SHORT_SIDE, training_bundle_write


class Command(BaseCommand):
    help = (
        "Write a training bundle (30 fps frames, frame lists, 8-column annotations, proposals) "
        "that PySlowFast and mmaction2 read with their AVA defaults."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", help="bundle directory (frames of unchanged videos are reused)")
        parser.add_argument("--dataset", required=True)
        parser.add_argument(
            "--val-videos", required=True, help="comma-separated video ids of the validation split"
        )
        parser.add_argument("--short-side", type=int, default=DEFAULT_SHORT_SIDE)
        parser.add_argument("--workers", type=int, help="JPEG-writing processes (default: CPUs)")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset named {options['dataset']!r}")
        val_videos = [name.strip() for name in options["val_videos"].split(",") if name.strip()]
        shown = [-1]

        def progress(fraction: float, message: str) -> None:
            percent = int(100 * fraction)
            if percent != shown[0]:
                shown[0] = percent
                self.stderr.write(f"{percent:3d}% {message}")

        start = time.perf_counter()
        try:
            summary = training_bundle_write(
                dataset=dataset,
                out_dir=options["out"],
                val_videos=val_videos,
                short_side=options["short_side"],
                workers=options["workers"],
                progress=progress,
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        seconds = time.perf_counter() - start
        written = summary["frames_written"]
        self.stderr.write(
            f"bundle in {options['out']}: {summary['keyframes']} keyframes, {written} frames "
            f"written ({written / max(seconds, 1e-9):,.0f}/s), {summary['frames_reused']} reused"
        )
        for note in summary["skipped"] + summary["dropped"]:
            self.stderr.write(f"note: {note}")
        if summary["dropped_count"] > len(summary["dropped"]):
            self.stderr.write(f"note: {summary['dropped_count']} notes in all")
        if options["json"]:
            self.stdout.write(json.dumps(summary))
