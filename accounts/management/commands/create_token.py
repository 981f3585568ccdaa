"""`manage.py create_token USER NAME [--scope read|write|admin] [--team SLUG]`: issue an API token
and print it once. Read-only unless --scope says more."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import ApiToken
from accounts.services import token_create
from core.errors import GranaryError


class Command(BaseCommand):
    help = "Create an API token for a user and print it (it is not shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("name", help="what the token is for, e.g. 'training cluster'")
        parser.add_argument("--days", type=int, default=None, help="lifetime (default GRANARY_TOKEN_DAYS)")
        parser.add_argument(
            "--scope",
            choices=ApiToken.Scope.values,
            default=ApiToken.Scope.READ,
            help="read (pull and browse; the default), write (also change datasets), admin (also manage teams)",
        )
        parser.add_argument("--team", default="", help="limit the token to this team's datasets and members")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user '{options['username']}'.")
        try:
            issued = token_create(
                user=user,
                name=options["name"],
                days=options["days"],
                scope=options["scope"],
                team=options["team"],
            )
        except GranaryError as exc:
            raise CommandError(exc.detail) from None
        token = issued.token
        limit = f", limited to {token.team.slug}" if token.team else ""
        self.stdout.write(issued.secret)
        self.stderr.write(
            f"Token '{token.name}' ({token.scope} scope{limit}) expires {token.expires_at:%Y-%m-%d}."
        )
