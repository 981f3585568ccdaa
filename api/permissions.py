"""The API's gate: who may call it at all. Per-dataset rights are decided by the selectors."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.selectors import user_may_browse


class PortalAccess(BasePermission):
    """Signed-in users may call the API; anonymous visitors may read only with anonymous read on."""

    message = "Sign in, or send an API token as 'Authorization: Bearer <token>'."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.user and request.user.is_authenticated:
            return True
        return request.method in SAFE_METHODS and user_may_browse(request.user)
