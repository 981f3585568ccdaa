"""The portal's forms: they check shapes; services check the rules and their errors land here."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import ApiToken, Membership, Team
from core.errors import GranaryError
from datasets.models import Dataset
from datasets.references import version_refs_split
from datasets.services.access_requests import DECISIONS


class ServiceErrorsMixin(forms.Form):
    def add_service_error(self, error: GranaryError) -> None:
        field = error.field if error.field in self.fields else None
        self.add_error(field, error.detail)


class DatasetForm(ServiceErrorsMixin):
    slug = forms.CharField(
        max_length=64,
        help_text="The dataset's name in URLs and references (churn@3): lowercase letters, digits, - and _.",
    )
    title = forms.CharField(max_length=200)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)
    summary = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    readme = forms.CharField(
        label="README",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Markdown.",
    )
    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. churn, tabular.")
    license = forms.CharField(
        label="Licence", max_length=100, required=False, help_text="An SPDX id, e.g. CC-BY-4.0."
    )
    visibility = forms.ChoiceField(choices=Dataset.Visibility.choices, initial=Dataset.Visibility.INTERNAL)

    def __init__(self, *args: Any, teams: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams  # type: ignore[attr-defined]

    def clean_tags(self) -> list[str]:
        return [tag.strip() for tag in self.cleaned_data["tags"].split(",") if tag.strip()]


class DatasetEditForm(DatasetForm):
    status = forms.ChoiceField(choices=Dataset.Status.choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, teams=Team.objects.none(), **kwargs)
        del self.fields["slug"]
        del self.fields["team"]


class VersionUploadForm(ServiceErrorsMixin):
    file = forms.FileField(
        allow_empty_file=True,
        help_text="CSV, TSV, Parquet or JSON Lines. Its bytes are kept exactly as uploaded.",
    )
    message = forms.CharField(
        max_length=500, required=False, help_text="What changed, as in a commit message."
    )
    derived_from = forms.CharField(
        required=False,
        label="Derived from",
        help_text="Upstream versions, comma-separated: raw_events@12, users@latest, x@sha256:9f2c4e1a7b3d.",
    )
    code_url = forms.CharField(
        max_length=500,
        required=False,
        label="Code URL",
        help_text="The code that produced it: a repository URL and commit, or any URL.",
    )

    def clean_derived_from(self) -> list[str]:
        return version_refs_split([self.cleaned_data["derived_from"]])


class TeamForm(ServiceErrorsMixin):
    slug = forms.CharField(max_length=64, help_text="Lowercase letters, digits, - and _.")
    name = forms.CharField(max_length=200)


class TeamNameForm(ServiceErrorsMixin):
    """A team's new name, on its page (owners); the slug stays."""

    prefix = "rename"
    name = forms.CharField(max_length=200)


class MemberForm(ServiceErrorsMixin):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class TokenForm(ServiceErrorsMixin):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. 'laptop' or 'training cluster'.")
    # The longest lifetime (GRANARY_TOKEN_MAX_DAYS) is the service's to check and name.
    days = forms.IntegerField(min_value=1, initial=90, help_text="Days until it expires.")
    scope = forms.ChoiceField(
        required=False,  # read, when a script posts no scope
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        help_text="What it may do: pulling data needs only read.",
    )
    team = forms.ChoiceField(
        required=False, help_text="Limit what it may change to one team (it still reads what you read)."
    )

    def __init__(self, *args: Any, teams: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "any of my teams"), *((t.slug, t.slug) for t in teams)]
        self.fields["team"].choices = choices  # type: ignore[attr-defined]

    def clean_scope(self) -> str:
        return str(self.cleaned_data["scope"] or ApiToken.Scope.READ)


class ColumnDocForm(forms.Form):
    name = forms.CharField(widget=forms.HiddenInput)
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    pii = forms.BooleanField(required=False, label="PII")


ColumnDocFormSet = forms.formset_factory(ColumnDocForm, extra=0)


class WebhookForm(ServiceErrorsMixin):
    url = forms.URLField(max_length=500, label="URL", assume_scheme="https")
    secret = forms.CharField(
        max_length=200, min_length=16, help_text="Used to sign each event (HMAC-SHA256)."
    )


class ExternalNameForm(ServiceErrorsMixin):
    namespace = forms.CharField(
        max_length=1000, help_text="As OpenLineage names it, e.g. postgres://db:5432."
    )
    name = forms.CharField(max_length=1000, help_text="e.g. public.users.")


class AliasForm(ServiceErrorsMixin):
    name = forms.CharField(
        max_length=64, help_text="e.g. prod or 2026-q4; latest and certified are computed."
    )
    version = forms.TypedChoiceField(coerce=int, choices=())

    def __init__(self, *args: Any, versions: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [  # type: ignore[attr-defined]
            (v.number, f"v{v.number}" + (f": {v.message}" if v.message else "") + _quality_note(v))
            for v in versions
        ]


def _quality_note(version: Any) -> str:
    # Choosing an alias's version: one that failed its checks should stand out before it is picked.
    return {"failed": " (failed its checks)", "error": " (check run errored)"}.get(version.quality_status, "")


class AccessRequestForm(ServiceErrorsMixin):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What you need the data for; the team's owners read it before they decide.",
    )


class AccessDecisionForm(ServiceErrorsMixin):
    decision = forms.ChoiceField(choices=[(d, d.capitalize()) for d in DECISIONS])
    note = forms.CharField(max_length=2000, required=False, help_text="Optional: shown to the requester.")


class PreferencesForm(forms.Form):
    email_notifications = forms.BooleanField(
        required=False,
        label="Email me of access requests to decide, and of decisions on my own requests",
    )


class QueryForm(ServiceErrorsMixin):
    sql = forms.CharField(
        label="SQL",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "sql"}),
        help_text="Ctrl+Enter runs it.",
    )


class QuerySaveForm(ServiceErrorsMixin):
    sql = forms.CharField(strip=False, widget=forms.HiddenInput)
    dataset = forms.ChoiceField(
        choices=(), help_text="A dataset you may write: the result becomes its next version."
    )
    message = forms.CharField(max_length=500, required=False, help_text="What it is, as in a commit message.")

    def __init__(self, *args: Any, datasets: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = [(d.slug, d.slug) for d in datasets]  # type: ignore[attr-defined]
