from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.errors import ApplicationError
from annotator.models import Dataset
from annotator.services.videos import video_create


class Command(BaseCommand):
    help = "Add video files already on the server to a dataset and queue their ingest jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--time-offset", type=float, default=0.0, help="900 for AVA cut files")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset named {options['dataset']!r}")
        for name in options["paths"]:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
            with path.open("rb") as handle:
                try:
                    video = video_create(
                        dataset=dataset,
                        video_id=path.stem,
                        upload=File(handle, name=path.name),
                        time_offset=options["time_offset"],
                    )
                except ApplicationError as error:
                    raise CommandError(error.message) from error
            self.stdout.write(f"{path}: video {video.video_id} (id {video.pk}), ingest queued")
