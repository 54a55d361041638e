from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from annotator.models import Dataset
from annotator.roles import roles_ensure
from annotator.services.datasets import DEFAULT_DATASET, dataset_create_default


class Command(BaseCommand):
    help = "First-run set-up (idempotent): roles, an admin account, the AVA v2.2 dataset."

    def handle(self, *args: Any, **options: Any) -> None:
        roles_ensure()
        User = get_user_model()
        username = os.environ.get("ADMIN_USERNAME", "admin")
        if not User.objects.filter(username=username).exists():
            password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            User.objects.create_superuser(
                username=username, email=os.environ.get("ADMIN_EMAIL", ""), password=password
            )
            shown = "from ADMIN_PASSWORD" if os.environ.get("ADMIN_PASSWORD") else password
            self.stdout.write(f"created admin account {username!r}, password: {shown} (shown once)")
        if not Dataset.objects.filter(name=DEFAULT_DATASET).exists():
            dataset = dataset_create_default()
            self.stdout.write(
                f"created dataset {dataset.name!r} with {dataset.actions.count()} actions"
            )
