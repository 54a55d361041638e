from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from annotator.errors import ApplicationError
from annotator.models import Dataset
from annotator.services.imports import IMPORT_KINDS, ava_import


class Command(BaseCommand):
    help = "Import an AVA CSV: the whole file is validated, then written in one transaction."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--kind", required=True, choices=IMPORT_KINDS)
        parser.add_argument("--model-version", help="predictions: the model version they belong to")
        parser.add_argument(
            "--create-videos", action="store_true", help="create videos the file names"
        )
        parser.add_argument(
            "--time-offset",
            type=float,
            default=0.0,
            help="time offset of created videos (900 for AVA cuts)",
        )
        parser.add_argument(
            "--not-reviewed", action="store_true", help="ground truth: leave keyframes unreviewed"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset named {options['dataset']!r}; import a label map first")
        bar = tqdm(total=100, file=sys.stderr, unit="%", disable=None)

        def progress(fraction: float, message: str) -> None:
            bar.set_description(message)
            bar.update(int(fraction * 100) - bar.n)

        try:
            result = ava_import(
                dataset=dataset,
                path=options["file"],
                kind=options["kind"],
                model_version=options["model_version"],
                create_videos=options["create_videos"],
                time_offset=options["time_offset"],
                not_reviewed=options["not_reviewed"],
                progress=progress,
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        finally:
            bar.close()
        self.stdout.write(", ".join(f"{key}: {value}" for key, value in result.items()))
