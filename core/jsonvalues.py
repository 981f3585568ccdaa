"""Values bound for a JSON column, made storable on both databases."""

from __future__ import annotations

from typing import Any


def without_nul(value: Any) -> Any:
    """`value` with each NUL character in its text replaced by U+FFFD. PostgreSQL's JSON holds no
    NUL, and a Parquet file's text may: a version's profile or a run's unexpected values could not
    be saved, and the work was sent again for ever. What is stored is shown, never read back as
    data (the file keeps its bytes)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list | tuple):
        return [without_nul(item) for item in value]
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    return value
