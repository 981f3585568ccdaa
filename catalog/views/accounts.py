"""Teams, their members and webhooks, and a user's API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.selectors import (
    preferences_of,
    team_get,
    team_members,
    team_members_visible,
    team_role,
    teams_of,
    teams_visible_to,
    tokens_of,
)
from accounts.services import (
    membership_remove,
    membership_set,
    preferences_set,
    team_create,
    team_update,
    token_create,
    token_revoke,
)
from catalog.forms import (
    MemberForm,
    PreferencesForm,
    TeamForm,
    TeamNameForm,
    TokenForm,
    WebhookForm,
)
from catalog.presentation.discovery import page_number, search_page_context
from catalog.views.common import form_submit
from core.http import AuthenticatedHttpRequest
from webhooks.selectors import webhook_deliveries_of, webhooks_of
from webhooks.services import webhook_create, webhook_delete, webhooks_require_owner


@require_http_methods(["GET", "POST"])
def team_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    team = form_submit(
        request,
        form,
        lambda data: team_create(user=request.user, **data),
        success=lambda team: f"Created {team.slug}. You are its owner.",
    )
    if team:
        return redirect(team)
    context = {
        "form": form,
        "teams": teams_visible_to(user=request.user),
        "mine": set(teams_of(user=request.user).values_list("pk", flat=True)),
    }
    return render(request, "catalog/team_list.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def team_detail(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    team = team_get(user=request.user, slug=slug)
    # Two forms post here: the owners' rename (its fields are prefixed) and the member form.
    renaming = "rename-name" in request.POST
    rename = TeamNameForm(request.POST if renaming else None, initial={"name": team.name})
    renamed = form_submit(
        request,
        rename,
        lambda data: team_update(actor=request.user, team=team, name=data["name"]),
        success=lambda renamed: f"Renamed {renamed.slug} to {renamed.name}.",
    )
    form = MemberForm(None if renaming else request.POST or None)
    changed = form_submit(
        request,
        form,
        lambda data: membership_set(actor=request.user, team=team, **data),
        success=lambda membership: f"{membership.user.username} is now {membership.role}.",
    )
    if renamed or changed:
        return redirect(team)
    role = team_role(user=request.user, team=team)
    # The team's datasets, searched like the home page's (the team facet would have one value).
    context, status = search_page_context(
        user=request.user,
        q=request.GET.get("q", ""),
        sort=request.GET.get("sort", ""),
        page=page_number(request.GET.get("page")),
        team=team.slug,
        hidden_facets=("team",),
    )
    context.update(
        team=team,
        form=form,
        rename_form=rename,
        role=role,
        # None: not theirs to see (the page says so); the rule is the selector's.
        members=team_members(user=request.user, team=team)
        if team_members_visible(user=request.user, team=team)
        else None,
    )
    invalid = form.errors or rename.errors
    return render(request, "catalog/team_detail.html", context, status=400 if invalid else status)


@require_POST
def team_member_remove(request: AuthenticatedHttpRequest, slug: str, username: str) -> HttpResponse:
    team = team_get(user=request.user, slug=slug)
    membership_remove(actor=request.user, team=team, username=username)
    messages.success(request, f"Removed {username} from {team.slug}.")
    return redirect(team)


@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    teams = teams_of(user=request.user).order_by("slug")
    initial = {"days": settings.GRANARY_TOKEN_DAYS}
    form = TokenForm(request.POST or None, teams=teams, initial=initial)
    issued = form_submit(request, form, lambda data: token_create(user=request.user, **data))
    if issued:  # shown once, above a fresh form
        form = TokenForm(teams=teams, initial=initial)
    context = {"form": form, "issued": issued, "tokens": tokens_of(user=request.user)}
    return render(request, "catalog/token_list.html", context, status=400 if form.errors else 200)


@require_POST
def token_revoke_view(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    token = token_revoke(user=request.user, token_id=token_id)
    messages.success(request, f"Revoked '{token.name}'.")
    return redirect("token-list")


@require_http_methods(["GET", "POST"])
def team_webhooks(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    team = team_get(user=request.user, slug=slug)
    webhooks_require_owner(user=request.user, team=team)
    form = WebhookForm(request.POST or None)
    if form_submit(
        request,
        form,
        lambda data: webhook_create(team=team, user=request.user, **data),
        success="Webhook added.",
    ):
        return redirect("team-webhooks", team.slug)
    context = {
        "team": team,
        "form": form,
        "webhooks": webhooks_of(team=team),
        "deliveries": webhook_deliveries_of(team=team),
    }
    return render(request, "catalog/team_webhooks.html", context, status=400 if form.errors else 200)


@require_POST
def team_webhook_delete(request: AuthenticatedHttpRequest, slug: str, webhook_id: int) -> HttpResponse:
    team = team_get(user=request.user, slug=slug)
    webhooks_require_owner(user=request.user, team=team)
    webhook = webhook_delete(team=team, webhook_id=webhook_id, user=request.user)
    messages.success(request, f"Deleted the webhook to {webhook.url}.")
    return redirect("team-webhooks", team.slug)


@require_http_methods(["GET", "POST"])
def preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    current = preferences_of(user=request.user)
    # An unticked box posts nothing at all: bind the form to any POST, even an empty one.
    form = PreferencesForm(
        request.POST if request.method == "POST" else None,
        initial={"email_notifications": current.email_notifications},
    )
    if request.method == "POST" and form.is_valid():
        preferences_set(user=request.user, email_notifications=form.cleaned_data["email_notifications"])
        messages.success(request, "Saved.")
        return redirect("preferences")
    return render(request, "catalog/preferences.html", {"form": form, "email": request.user.email})
