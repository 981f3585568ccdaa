"""REST API v1 for API tokens: the username/password exchange and managing your own tokens."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from catalog.models import ApiToken
from catalog.services.tokens import (
    IssuedToken,
    token_create,
    token_exchange,
    token_revoke,
    tokens_of,
)


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class IssuedTokenSerializer(TokenSerializer):
    token = serializers.SerializerMethodField(help_text="The secret: shown this once only")

    class Meta(TokenSerializer.Meta):
        fields = ["token", *TokenSerializer.Meta.fields]
        read_only_fields = fields

    def get_token(self, token: ApiToken) -> str:
        return str(self.context["secret"])


class TokenExchangeSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    days = serializers.IntegerField(required=False, min_value=1, max_value=3650)


def _issued(issued: IssuedToken) -> dict[str, Any]:
    return dict(IssuedTokenSerializer(issued.token, context={"secret": issued.secret}).data)


class LoginThrottle(AnonRateThrottle):
    rate = "30/min"


class TokenExchange(APIView):
    """Exchange a username and password for a new API token."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(request=TokenExchangeSerializer, responses={201: IssuedTokenSerializer})
    def post(self, request: Request) -> Response:
        serializer = TokenExchangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = token_exchange(**serializer.validated_data)
        return Response(_issued(issued), status=201)


class TokenList(APIView):
    """Your API tokens (never their secrets); POST issues a new one, shown once."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(TokenSerializer(tokens_of(user=_me(request)), many=True).data)

    @extend_schema(request=TokenCreateSerializer, responses={201: IssuedTokenSerializer})
    def post(self, request: Request) -> Response:
        serializer = TokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = token_create(user=_me(request), **serializer.validated_data)
        return Response(_issued(issued), status=201)


class TokenDetail(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, token_id: int) -> Response:
        token_revoke(user=_me(request), token_id=token_id)
        return Response(status=204)


def _me(request: Any) -> User:
    """The signed-in user of a request that the gate (login or API permission) let through."""
    return cast(User, request.user)
