"""Teams, their members and webhooks, and a user's API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.selectors import (
    team_get,
    team_members,
    team_role,
    teams_of,
    teams_visible_to,
    tokens_of,
)
from accounts.services import membership_remove, membership_set, team_create, token_create, token_revoke
from catalog.forms import (
    MemberForm,
    TeamForm,
    TokenForm,
    WebhookForm,
)
from catalog.views.common import me
from core.errors import AccessDenied, GranaryError
from datasets.selectors import (
    dataset_search,
)
from webhooks.selectors import webhook_deliveries_of, webhooks_of
from webhooks.services import webhook_create


@require_http_methods(["GET", "POST"])
def team_list(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = team_create(user=me(request), **form.cleaned_data)
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Created {team.slug}. You are its owner.")
            return redirect(team)
    context = {
        "form": form,
        "teams": teams_visible_to(user=request.user),
        "mine": set(teams_of(user=request.user).values_list("pk", flat=True)),
    }
    return render(request, "catalog/team_list.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_get(user=me(request), slug=slug)
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership_set(actor=me(request), team=team, **form.cleaned_data)
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"{form.cleaned_data['username']} is now {form.cleaned_data['role']}.")
            return redirect(team)
    role = team_role(user=me(request), team=team)
    context = {
        "team": team,
        "form": form,
        "role": role,
        "members": team_members(team=team),
        "datasets": dataset_search(user=me(request), team=team.slug),
    }
    return render(request, "catalog/team_detail.html", context, status=400 if form.errors else 200)


@require_POST
def team_member_remove(request: HttpRequest, slug: str, username: str) -> HttpResponse:
    team = team_get(user=me(request), slug=slug)
    membership_remove(actor=me(request), team=team, username=username)
    messages.success(request, f"Removed {username} from {team.slug}.")
    return redirect(team)


@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None, initial={"days": settings.GRANARY_TOKEN_DAYS})
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = token_create(user=me(request), **form.cleaned_data)
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            form = TokenForm(initial={"days": settings.GRANARY_TOKEN_DAYS})
    context = {"form": form, "issued": issued, "tokens": tokens_of(user=me(request))}
    return render(request, "catalog/token_list.html", context, status=400 if form.errors else 200)


@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = token_revoke(user=me(request), token_id=token_id)
    messages.success(request, f"Revoked '{token.name}'.")
    return redirect("token-list")


@require_http_methods(["GET", "POST"])
def team_webhooks(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_get(user=me(request), slug=slug)
    if team_role(user=me(request), team=team) != "owner" and not me(request).is_superuser:
        raise AccessDenied(f"Only owners of {team.slug} manage its webhooks.")
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            webhook_create(team=team, **form.cleaned_data)
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, "Webhook added.")
            return redirect("team-webhooks", team.slug)
    context = {
        "team": team,
        "form": form,
        "webhooks": webhooks_of(team=team),
        "deliveries": webhook_deliveries_of(team=team),
    }
    return render(request, "catalog/team_webhooks.html", context, status=400 if form.errors else 200)
