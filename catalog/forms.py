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


class ExpectationForm(forms.Form):
    """One expectation from Granary's curated list, with its parameters in plain fields."""

    type = forms.ChoiceField(label="Check")
    column = forms.ChoiceField(
        required=False, help_text="The column it is about (columns of the latest version)."
    )
    column_b = forms.ChoiceField(
        required=False, label="Second column", help_text="For 'greater than': column B."
    )
    columns = forms.MultipleChoiceField(required=False, help_text="For column sets, orders and combinations.")
    min_value = forms.FloatField(required=False, label="At least")
    max_value = forms.FloatField(required=False, label="At most")
    value_set = forms.CharField(
        required=False, label="Values", help_text="Comma-separated, e.g. red, green, blue."
    )
    regex = forms.CharField(required=False, label="Regular expression")
    type_ = forms.CharField(
        required=False, label="Type", help_text="e.g. int64, float64, str, bool, datetime64[us]."
    )
    mostly = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=100,
        label="In at least % of rows",
        help_text="Leave empty for all rows.",
    )
    or_equal = forms.BooleanField(required=False, label="Or equal")
    exact_match = forms.BooleanField(required=False, initial=True, label="No other columns")
    notes = forms.CharField(required=False, max_length=500, help_text="Why this check matters.")

    def __init__(self, *args: Any, schema: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from quality.expectations import CATALOG

        self.schema = {c["name"]: c["type"] for c in schema}
        names = [(name, name) for name in self.schema]
        self.fields["type"].choices = [(spec.type, spec.label) for spec in CATALOG.values()]  # type: ignore[attr-defined]
        self.fields["column"].choices = [("", "—"), *names]  # type: ignore[attr-defined]
        self.fields["column_b"].choices = [("", "—"), *names]  # type: ignore[attr-defined]
        self.fields["columns"].choices = names  # type: ignore[attr-defined]

    def expectation(self) -> dict[str, Any]:
        """The GX expectation configuration the form describes (the service checks it)."""
        from quality.expectations import CATALOG, COLUMN, COLUMNS

        data = self.cleaned_data
        spec = CATALOG[data["type"]]
        kwargs: dict[str, Any] = {}
        columns = [p for p in spec.params if p.kind == COLUMN]
        for param, field in zip(columns, ("column", "column_b"), strict=False):
            if data.get(field):
                kwargs[param.name] = data[field]
        for param in spec.params:
            name = param.name
            if param.kind == COLUMNS and data.get("columns"):
                kwargs[name] = list(data["columns"])
            elif name in ("min_value", "max_value") and data.get(name) is not None:
                value = data[name]
                kwargs[name] = int(value) if param.kind == "count" or float(value).is_integer() else value
            elif name == "value_set" and data.get("value_set"):
                kwargs[name] = [
                    self._typed(item.strip(), data.get("column"))
                    for item in data["value_set"].split(",")
                    if item.strip()
                ]
            elif name in ("regex", "type_") and data.get(name):
                kwargs[name] = data[name]
            elif name in ("or_equal", "exact_match"):
                kwargs[name] = bool(data.get(name))
        if spec.mostly and data.get("mostly") not in (None, 100):
            kwargs["mostly"] = data["mostly"] / 100
        expectation: dict[str, Any] = {"type": spec.type, "kwargs": kwargs}
        if data.get("notes"):
            expectation["meta"] = {"notes": data["notes"]}
        return expectation

    def _typed(self, text: str, column: str | None) -> Any:
        kind = self.schema.get(column or "")
        try:
            if kind == "integer":
                return int(text)
            if kind == "float":
                return float(text)
        except ValueError:
            return text
        if kind == "boolean":
            return text.lower() in ("true", "1", "yes")
        return text


class SuiteImportForm(forms.Form):
    suite = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        label="Suite JSON",
        help_text="As Great Expectations exports it.",
    )


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
