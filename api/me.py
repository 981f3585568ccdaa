"""The signed-in user's own settings."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import preferences_of
from accounts.services import preferences_set
from api.common import JsonTypes, me, valid
from api.permissions import TokenScope


class PreferencesSerializer(JsonTypes, serializers.Serializer[object]):
    email_notifications = serializers.BooleanField(
        help_text="Email me of access requests I decide and of decisions on my own requests"
    )


class Preferences(APIView):
    """Your preferences: whether Granary emails you (the webhooks are the team's)."""

    permission_classes = [IsAuthenticated, TokenScope]

    @extend_schema(responses=PreferencesSerializer)
    def get(self, request: Request) -> Response:
        preferences = preferences_of(user=me(request))
        return Response({"email_notifications": preferences.email_notifications})

    @extend_schema(request=PreferencesSerializer, responses=PreferencesSerializer)
    def patch(self, request: Request) -> Response:
        data = valid(PreferencesSerializer, request)
        preferences = preferences_set(user=me(request), email_notifications=data["email_notifications"])
        return Response({"email_notifications": preferences.email_notifications})
