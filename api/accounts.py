"""Teams, their members and API tokens."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiToken, Membership, Team
from accounts.selectors import team_get, team_members, teams_visible_to, tokens_of, user_roles
from accounts.services import (
    LIFETIME_LIMIT,
    NAME_MAX,
    IssuedToken,
    membership_remove,
    membership_role_change,
    membership_set,
    team_create,
    team_update,
    token_create,
    token_exchange,
    token_revoke,
)
from api.common import JsonTypes, me, not_blank, slug_field, valid
from api.permissions import TokenScope, request_token


class TeamSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in this team, or null")

    class Meta:
        model = Team
        fields = ["slug", "name", "role", "created_at"]

    def get_role(self, team: Team) -> str | None:
        roles: dict[int, str] = self.context.get("roles", {})
        return roles.get(team.pk)


class TeamCreateSerializer(JsonTypes, serializers.Serializer):
    slug = slug_field()
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class TeamUpdateSerializer(JsonTypes, serializers.Serializer):
    # Not trimmed here, so the length the schema states is the length checked; the service trims.
    name = serializers.CharField(max_length=NAME_MAX, trim_whitespace=False, validators=[not_blank])


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]


class MemberWriteSerializer(JsonTypes, serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.MEMBER)


class RoleSerializer(JsonTypes, serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class TeamList(generics.ListAPIView):
    """Every team, with your role in each; POST creates a team that you own."""

    permission_classes = [IsAuthenticated, TokenScope]

    serializer_class = TeamSerializer

    def get_queryset(self) -> Any:
        return teams_visible_to(user=self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "roles": user_roles(user=self.request.user)}

    @extend_schema(request=TeamCreateSerializer, responses={201: TeamSerializer})
    def post(self, request: Request) -> Response:
        data = valid(TeamCreateSerializer, request)
        team = team_create(user=me(request), slug=data["slug"], name=data["name"])
        return Response(TeamSerializer(team, context={"roles": {team.pk: "owner"}}).data, status=201)


class TeamDetail(APIView):
    permission_classes = [IsAuthenticated, TokenScope]

    @extend_schema(responses=TeamSerializer)
    def get(self, request: Request, slug: str) -> Response:
        team = team_get(user=me(request), slug=slug)
        return Response(TeamSerializer(team, context={"roles": user_roles(user=request.user)}).data)

    @extend_schema(request=TeamUpdateSerializer, responses=TeamSerializer)
    def patch(self, request: Request, slug: str) -> Response:
        """Rename the team (owners only); its slug stays."""
        team = team_get(user=me(request), slug=slug)
        data = valid(TeamUpdateSerializer, request)
        team = team_update(actor=me(request), team=team, name=data["name"])
        return Response(TeamSerializer(team, context={"roles": user_roles(user=request.user)}).data)


class TeamMembers(APIView):
    """A team's members and their roles; its owners add members or change roles with POST."""

    permission_classes = [IsAuthenticated, TokenScope]

    @extend_schema(responses=MemberSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        team = team_get(user=me(request), slug=slug)
        return Response(MemberSerializer(team_members(user=me(request), team=team), many=True).data)

    @extend_schema(request=MemberWriteSerializer, responses={201: MemberSerializer})
    def post(self, request: Request, slug: str) -> Response:
        team = team_get(user=me(request), slug=slug)
        data = valid(MemberWriteSerializer, request)
        membership = membership_set(
            actor=me(request), team=team, username=data["username"], role=data["role"]
        )
        return Response(MemberSerializer(membership).data, status=201)


class TeamMember(APIView):
    permission_classes = [IsAuthenticated, TokenScope]

    @extend_schema(request=RoleSerializer, responses=MemberSerializer)
    def patch(self, request: Request, slug: str, username: str) -> Response:
        team = team_get(user=me(request), slug=slug)
        data = valid(RoleSerializer, request)
        membership = membership_role_change(
            actor=me(request), team=team, username=username, role=data["role"]
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, username: str) -> Response:
        team = team_get(user=me(request), slug=slug)
        membership_remove(actor=me(request), team=team, username=username)
        return Response(status=204)


class TokenSerializer(serializers.ModelSerializer):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug",
        read_only=True,
        allow_null=True,
        help_text="The one team it may change, or null for all",
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "team",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


class IssuedTokenSerializer(TokenSerializer):
    token = serializers.SerializerMethodField(help_text="The secret: shown this once only")

    class Meta(TokenSerializer.Meta):
        fields = ["token", *TokenSerializer.Meta.fields]
        read_only_fields = fields

    def get_token(self, token: ApiToken) -> str:
        return str(self.context["secret"])


TEAM_HELP = "Limit the token to this team's datasets and members (a slug of one of your teams)"


class TokenExchangeSerializer(JsonTypes, serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    scope = serializers.ChoiceField(ApiToken.Scope.choices, default=ApiToken.Scope.READ)
    team = serializers.CharField(required=False, allow_blank=True, default="", help_text=TEAM_HELP)


class TokenCreateSerializer(JsonTypes, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    days = serializers.IntegerField(required=False, min_value=1)
    scope = serializers.ChoiceField(ApiToken.Scope.choices, default=ApiToken.Scope.READ)
    team = serializers.CharField(required=False, allow_blank=True, default="", help_text=TEAM_HELP)

    def get_fields(self) -> dict[str, Any]:
        # The longest lifetime is a setting, read when a request (or the schema) is made.
        fields = super().get_fields()
        fields["days"] = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=settings.GRANARY_TOKEN_MAX_DAYS,
            error_messages={"max_value": LIFETIME_LIMIT},
            help_text="Days until it expires (default GRANARY_TOKEN_DAYS)",
        )
        return fields


def _issued(issued: IssuedToken) -> dict[str, Any]:
    return dict(IssuedTokenSerializer(issued.token, context={"secret": issued.secret}).data)


class TokenExchange(APIView):
    """Exchange a username and password for a new API token. Failed attempts count towards the
    same per-account and per-address limits as the portal's sign-in (429 `locked_out` past them)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(request=TokenExchangeSerializer, responses={201: IssuedTokenSerializer})
    def post(self, request: Request) -> Response:
        serializer = TokenExchangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Django's own request: django-axes marks a locked-out attempt on it for its middleware.
        issued = token_exchange(request=request._request, **serializer.validated_data)
        return Response(_issued(issued), status=201)


class TokenList(APIView):
    """Your API tokens (never their secrets); POST issues a new one, shown once: read-only unless
    `scope` asks for write or admin, and never wider than the token that asks for it."""

    permission_classes = [IsAuthenticated, TokenScope]

    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(TokenSerializer(tokens_of(user=me(request)), many=True).data)

    @extend_schema(request=TokenCreateSerializer, responses={201: IssuedTokenSerializer})
    def post(self, request: Request) -> Response:
        serializer = TokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = token_create(user=me(request), issuer=request_token(request), **serializer.validated_data)
        return Response(_issued(issued), status=201)


class TokenDetail(APIView):
    permission_classes = [IsAuthenticated, TokenScope]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, token_id: int) -> Response:
        token_revoke(user=me(request), token_id=token_id, by=request_token(request))
        return Response(status=204)
