"""quality's answers to what datasets announces (datasets.signals): thin, each calls one service."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from datasets.models import Version
from datasets.signals import version_status_changed
from quality.services import version_status_followed


@receiver(version_status_changed, sender=Version, dispatch_uid="quality.version_status_changed")
def _version_status_changed(sender: type[Version], version: Version, **kwargs: Any) -> None:
    version_status_followed(version=version)
