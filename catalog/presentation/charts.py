"""Geometry for the small server-side SVG charts on version pages (templates only draw it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalog.presentation.numbers import number_text

WIDTH = 240
HEIGHT = 48


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


def histogram_bars(histogram: dict[str, Any], *, width: int = WIDTH, height: int = HEIGHT) -> list[Bar]:
    counts: list[int] = histogram.get("counts", [])
    edges: list[Any] = histogram.get("edges", [])
    if not counts:
        return []
    top = max(counts) or 1
    step = width / len(counts)
    bars = []
    for index, count in enumerate(counts):
        bar_height = height * count / top
        low, high = edges[index], edges[min(index + 1, len(edges) - 1)]
        bars.append(
            Bar(
                x=round(index * step + 0.5, 2),
                y=round(height - bar_height, 2),
                width=round(max(step - 1, 1), 2),
                height=round(bar_height, 2),
                title=f"{_label(low)} to {_label(high)}: {count:,}",
            )
        )
    return bars


def top_value_bars(top: dict[str, Any], *, width: int = WIDTH) -> list[dict[str, Any]]:
    values = top.get("values", [])
    most = max((v["count"] for v in values), default=1) or 1
    return [{**v, "width": round(width * v["count"] / most, 1)} for v in values]


def _label(value: Any) -> str:
    return number_text(value)


def quality_bars(
    history: list[dict[str, Any]], *, width: int = 360, height: int = 60
) -> list[dict[str, Any]]:
    """One bar per version: its height is the pass rate of the version's latest run."""
    if not history:
        return []
    step = min(width / max(len(history), 1), 28)  # a few versions still look like bars
    return [
        {
            "x": round(i * step + 1, 2),
            "y": round(height - height * max(h["pass_rate"], 0.02), 2),
            "width": round(max(step - 3, 2), 2),
            "height": round(height * max(h["pass_rate"], 0.02), 2),
            "status": h["status"],
            "title": f"v{h['version']}: {h['pass_rate'] * 100:.0f}% of checks passed ({h['status']}, suite r{h['revision']})",
            "version": h["version"],
        }
        for i, h in enumerate(history)
    ]
