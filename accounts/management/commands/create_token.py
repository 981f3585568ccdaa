"""`manage.py create_token USER NAME`: issue an API token and print it once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import token_create
from core.errors import GranaryError


class Command(BaseCommand):
    help = "Create an API token for a user and print it (it is not shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("name", help="what the token is for, e.g. 'training cluster'")
        parser.add_argument("--days", type=int, default=None, help="lifetime (default GRANARY_TOKEN_DAYS)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user '{options['username']}'.")
        try:
            issued = token_create(user=user, name=options["name"], days=options["days"])
        except GranaryError as exc:
            raise CommandError(exc.detail) from None
        self.stdout.write(issued.secret)
        self.stderr.write(f"Token '{issued.token.name}' expires {issued.token.expires_at:%Y-%m-%d}.")
