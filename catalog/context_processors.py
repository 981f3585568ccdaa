"""What every portal page may show about the signed-in person: the access requests waiting for
their decision (the navigation's badge, the home page's box, a dataset's Access tab)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.db.models import Count
from django.http import HttpRequest

from core.types import AnyUser
from datasets.models import AccessRequest
from datasets.selectors import access_requests_pending_for

WAITING_SHOWN = 5  # requests listed on the home page; the rest are behind the datasets' Access tabs


class PendingRequests:
    """Lazy: a page that shows none of it runs no query; one that shows any of it runs one
    grouped COUNT (and the home page one more for the few it lists)."""

    def __init__(self, user: AnyUser) -> None:
        self._user = user

    @cached_property
    def by_dataset(self) -> dict[int, int]:
        """How many requests wait on each dataset, by dataset id."""
        counts = (
            access_requests_pending_for(user=self._user)
            .order_by()
            .values("dataset_id")
            .annotate(n=Count("pk"))
            .values_list("dataset_id", "n")
        )
        return dict(counts)

    @cached_property
    def count(self) -> int:
        return sum(self.by_dataset.values())

    @cached_property
    def newest(self) -> list[AccessRequest]:
        if not self.count:  # the count is on the page already: no second query for nothing
            return []
        requests = access_requests_pending_for(user=self._user).select_related("dataset", "user")
        return list(requests[:WAITING_SHOWN])

    def of(self, dataset_id: int) -> int:
        return self.by_dataset.get(dataset_id, 0)


def pending_requests(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"pending_requests": PendingRequests(user)}
