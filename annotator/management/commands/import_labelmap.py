from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.errors import ApplicationError
from annotator.services.datasets import labelmap_import


class Command(BaseCommand):
    help = "Import a pbtxt label map into a dataset (created if needed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--dataset", required=True)
        parser.add_argument(
            "--evaluated", help="pbtxt listing the evaluated subset (e.g. AVA's 60 classes)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            dataset = labelmap_import(
                dataset_name=options["dataset"],
                path=options["file"],
                evaluated_path=options["evaluated"],
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"dataset {dataset.name!r}: {dataset.actions.count()} actions")
