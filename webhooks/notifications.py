"""Telling people by email what needs them: owners of a new access request, requesters of the
decision. Sent by a worker after the change commits, only to those whose preferences allow it
and who have an address; Django's mail backend decides how (the console by default)."""

from __future__ import annotations

from functools import partial

from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction

from accounts.models import Preferences
from webhooks.tasks import send_notification


def notify(*, users: list[User], subject: str, body: str) -> list[int]:
    """Queue one email per user who wants them and has an address; returns their ids."""
    opted_out = set(
        Preferences.objects.filter(user__in=users, email_notifications=False).values_list(
            "user_id", flat=True
        )
    )
    wanted = sorted({user.pk for user in users if user.email and user.pk not in opted_out})
    if wanted:
        transaction.on_commit(partial(send_notification.delay, wanted, subject, body))
    return wanted


def notification_send(*, user_ids: list[int], subject: str, body: str) -> int:
    """Send the emails (in a worker); how many went."""
    sent = 0
    for user in User.objects.filter(pk__in=user_ids).exclude(email=""):
        sent += send_mail(subject, body, None, [user.email])
    return sent
