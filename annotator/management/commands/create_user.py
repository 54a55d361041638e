from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from annotator.roles import ROLES
from annotator.services.users import user_create


class Command(BaseCommand):
    help = "Create a reviewer or manager account (managers get staff access to the admin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, required=True)
        parser.add_argument("--password", help="default: a random one, printed once")
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"] or secrets.token_urlsafe(12)
        user_create(
            username=options["username"],
            role=options["role"],
            password=password,
            email=options["email"],
        )
        shown = "as given" if options["password"] else password
        self.stdout.write(f"created {options['role']} {options['username']!r}, password: {shown}")
