"""The portal's forms for a dataset's suite: one check from the table in quality.expectations, and
GX suite JSON to import. Each parameter field says which checks use it (`checks`), so the page
shows only the chosen check's fields, and the service's errors land under the field they name."""

from __future__ import annotations

from typing import Any

from django import forms

from quality.expectations import BOOL, CATALOG, COLUMN, COLUMNS, COUNT, ParameterInvalid

# The form field that holds each expectation parameter.
FIELD_OF = {
    "column": "column",
    "column_A": "column",
    "column_B": "column_b",
    "column_set": "columns",
    "column_list": "columns",
    "min_value": "min_value",
    "max_value": "max_value",
    "value_set": "value_set",
    "regex": "regex",
    "type_": "type_",
    "mostly": "mostly",
    "or_equal": "or_equal",
    "exact_match": "exact_match",
}


def _checks_using(field: str) -> list[str]:
    """The expectation types whose parameters include `field`, in the table's order."""
    return [
        spec.type
        for spec in CATALOG.values()
        if any(FIELD_OF.get(p.name) == field for p in spec.params) or (field == "mostly" and spec.mostly)
    ]


class ExpectationForm(forms.Form):
    """One expectation from Granary's curated list, with its parameters in plain fields."""

    type = forms.ChoiceField(label="Check")
    column = forms.ChoiceField(
        required=False, help_text="The column it is about (columns of the latest version)."
    )
    column_b = forms.ChoiceField(
        required=False, label="Column B", help_text="Column A must be greater than it."
    )
    columns = forms.MultipleChoiceField(required=False, help_text="Ctrl- or Cmd-click to choose several.")
    min_value = forms.FloatField(required=False, label="At least")
    max_value = forms.FloatField(required=False, label="At most")
    value_set = forms.CharField(
        required=False, label="Values", help_text="Comma-separated, e.g. red, green, blue."
    )
    regex = forms.CharField(required=False, label="Regular expression", strip=False)
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
        self.schema = {c["name"]: c["type"] for c in schema}
        names = [(name, name) for name in self.schema]
        self.fields["type"].choices = [(spec.type, spec.label) for spec in CATALOG.values()]  # type: ignore[attr-defined]
        self.fields["column"].choices = [("", "—"), *names]  # type: ignore[attr-defined]
        self.fields["column_b"].choices = [("", "—"), *names]  # type: ignore[attr-defined]
        self.fields["columns"].choices = names  # type: ignore[attr-defined]
        for name, field in self.fields.items():
            if name in FIELD_OF.values():
                checks = _checks_using(name)
                field.checks = " ".join(checks)  # type: ignore[attr-defined]
                field.used_by = _used_by(name, checks)  # type: ignore[attr-defined]
            field.inline = isinstance(field, forms.BooleanField)  # type: ignore[attr-defined]

    def chosen(self) -> str:
        """The chosen check's type (the first of the list before a choice), for the page's script."""
        return str(self.data.get("type") or next(iter(CATALOG)))

    def expectation(self) -> dict[str, Any]:
        """The GX expectation configuration the form describes (the service checks it)."""
        data = self.cleaned_data
        spec = CATALOG[data["type"]]
        kwargs: dict[str, Any] = {}
        for param in spec.params:
            name, field = param.name, FIELD_OF[param.name]
            if param.kind == COLUMN and data.get(field):
                kwargs[name] = data[field]
            elif param.kind == COLUMNS and data.get(field):
                kwargs[name] = list(data[field])
            elif name in ("min_value", "max_value") and data.get(name) is not None:
                value = data[name]
                kwargs[name] = int(value) if param.kind == COUNT or float(value).is_integer() else value
            elif name == "value_set" and data.get("value_set"):
                kwargs[name] = [
                    self._typed(item.strip(), data.get("column"))
                    for item in data["value_set"].split(",")
                    if item.strip()
                ]
            elif name in ("regex", "type_") and data.get(name):
                kwargs[name] = data[name]
            elif param.kind == BOOL:
                kwargs[name] = bool(data.get(field))
        if spec.mostly and data.get("mostly") not in (None, 100):
            kwargs["mostly"] = data["mostly"] / 100
        expectation: dict[str, Any] = {"type": spec.type, "kwargs": kwargs}
        if data.get("notes"):
            expectation["meta"] = {"notes": data["notes"]}
        return expectation

    def add_service_error(self, error: Exception, *, position: int) -> None:
        """Put the service's refusal under the field it is about when it is about this check's
        parameter; anything else (another check of the suite) above the form."""
        if isinstance(error, ParameterInvalid) and error.position == position and error.field in FIELD_OF:
            self.add_error(FIELD_OF[error.field], error.message)
        else:
            self.add_error(None, getattr(error, "detail", str(error)))

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


# Fields most checks share, in words rather than as a list of twenty labels.
_SHARED = {
    "column": "For every check about a column (column A for “one column is greater than another”).",
    "min_value": "For the checks of a range (“… between”).",
    "max_value": "For the checks of a range (“… between”).",
    "mostly": "For the checks made row by row (not for a mean, a sum or a count).",
}


def _used_by(field: str, checks: list[str]) -> str:
    """Which checks a field belongs to, in words: shown when the page's script does not run."""
    return _SHARED.get(field) or "For: " + "; ".join(f"“{CATALOG[c].label}”" for c in checks) + "."


class SuiteImportForm(forms.Form):
    suite = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        label="Suite JSON",
        help_text="As Great Expectations exports it.",
    )
