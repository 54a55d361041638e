from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.errors import ApplicationError
from annotator.models import Dataset
from annotator.services.model_versions import model_version_register


class Command(BaseCommand):
    help = "Register a checkpoint (python -m inference convert, or training) as a model version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="one of our .pt checkpoints")
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--name", help="version name (default: the file's stem)")
        parser.add_argument(
            "--activate", action="store_true", help="make it the version pre-annotation uses"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset named {options['dataset']!r}")
        try:
            version = model_version_register(
                dataset=dataset,
                path=options["file"],
                name=options["name"],
                activate=options["activate"],
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        active = " (active)" if options["activate"] else ""
        self.stdout.write(
            f"model version {version.name!r} (id {version.pk}){active}: "
            f"{len(version.label_map)} actions, sha256 {version.sha256[:12]}"
        )
