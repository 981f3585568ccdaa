"""The portal's forms: they check shapes; services check the rules and their errors land here."""

from __future__ import annotations

from typing import Any

from django import forms

from datasets.errors import GranaryError
from datasets.models import Dataset, Membership, Team


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
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Markdown.",
    )
    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. churn, tabular.")
    license = forms.CharField(max_length=100, required=False, help_text="An SPDX id, e.g. CC-BY-4.0.")
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


class TeamForm(ServiceErrorsMixin):
    slug = forms.CharField(max_length=64, help_text="Lowercase letters, digits, - and _.")
    name = forms.CharField(max_length=200)


class MemberForm(ServiceErrorsMixin):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class TokenForm(ServiceErrorsMixin):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. 'laptop' or 'training cluster'.")
    days = forms.IntegerField(min_value=1, max_value=3650, initial=90, help_text="Days until it expires.")


class ColumnDocForm(forms.Form):
    name = forms.CharField(widget=forms.HiddenInput)
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    pii = forms.BooleanField(required=False, label="PII")


ColumnDocFormSet = forms.formset_factory(ColumnDocForm, extra=0)
