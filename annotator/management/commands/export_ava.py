from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.errors import ApplicationError
from annotator.models import Dataset, ModelVersion
from annotator.selectors import ava_export_lines


class Command(BaseCommand):
    help = (
        "Export a dataset as an AVA CSV: ground truth (human) or a model version's scores (model)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", help="output CSV path, or - for stdout")
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--source", choices=["human", "model"], default="human")
        parser.add_argument(
            "--model-version", help="model version name (source model; default: the active one)"
        )
        parser.add_argument("--reviewed-only", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset named {options['dataset']!r}")
        model_version = None
        if options["model_version"]:
            model_version = ModelVersion.objects.filter(
                dataset=dataset, name=options["model_version"]
            ).first()
            if model_version is None:
                raise CommandError(
                    f"no model version {options['model_version']!r} in dataset {dataset.name!r}"
                )
        lines = ava_export_lines(
            dataset=dataset,
            source=options["source"],
            model_version=model_version,
            reviewed_only=options["reviewed_only"],
        )
        start = time.perf_counter()
        rows = 0
        try:
            if options["out"] == "-":
                for chunk in lines:
                    rows += chunk.count("\n")
                    self.stdout.write(chunk, ending="")
            else:
                with open(options["out"], "w", encoding="utf-8", newline="") as handle:
                    for chunk in lines:
                        rows += chunk.count("\n")
                        handle.write(chunk)
        except ApplicationError as error:
            raise CommandError(error.message) from error
        seconds = time.perf_counter() - start
        self.stderr.write(
            f"exported {rows} rows in {seconds:.2f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)"
        )
