"""How the portal writes numbers and byte sizes: the precision the value has, and one unit
convention (IEC, 1024-based: KiB, MiB, GiB) shared with the upload progress in static/granary.js."""

from __future__ import annotations

import math
from typing import Any

# static/granary.js formatBytes writes the same strings; tests/catalog/test_number_display.py
# runs both over the same sizes.
BYTE_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")


def bytes_text(size: Any) -> str:
    """`512 bytes`, `46.7 KiB`, `229.2 MiB`: one decimal above 1024, powers of 1024."""
    if size is None or size == "":
        return "—"
    count = float(size)
    unit = 0
    while count >= 1024 and unit < len(BYTE_UNITS) - 1:
        count /= 1024
        unit += 1
    if unit == 0:
        whole = int(count)
        return f"{whole} {'byte' if whole == 1 else 'bytes'}"
    return f"{count:.1f} {BYTE_UNITS[unit]}"


def number_text(value: Any) -> str:
    """A statistic as written for reading, with the precision it has.

    Integers stay whole; the integer part of a float is never rounded away (a mean of 1999999.5
    is not 2000000), its decimals are cut to at most 4 (2 once the integer part has 4 digits or
    more) without padding zeros; numbers below 1 keep 4 significant digits. Anything that is not
    a number (dates, text) is shown as it is.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    magnitude = abs(value)
    if magnitude >= 1e16:  # beyond float's integer precision: digits past 17 are noise
        return f"{value:.6g}"
    if value.is_integer():
        return str(int(value))
    if magnitude < 1:
        return f"{value:.4g}"
    digits = len(str(int(magnitude)))
    decimals = min(4, max(2, 6 - digits))
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
