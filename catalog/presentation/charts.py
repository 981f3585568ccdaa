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


# The quality chart's frame: room for the percentages on the left and the version numbers below.
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 10, 40


def quality_bars(
    history: list[dict[str, Any]], *, width: int = 520, height: int = 170
) -> dict[str, Any] | None:
    """The quality across versions: one bar per version, its height the pass rate of the version's
    latest run, with a percentage axis, gridlines, version numbers and axis titles."""
    if not history:
        return None
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    bottom = _TOP + plot_h
    step = min(plot_w / len(history), 40)  # a few versions still look like bars
    every = max(1, -(-len(history) // 12))  # at most about twelve version numbers under the bars
    bars = []
    for i, h in enumerate(history):
        bar_h = plot_h * max(h["pass_rate"], 0.02)  # a failed run still shows a sliver
        x = _LEFT + i * step
        bars.append(
            {
                "x": round(x + 2, 2),
                "y": round(bottom - bar_h, 2),
                "width": round(max(step - 4, 2), 2),
                "height": round(bar_h, 2),
                "status": h["status"],
                "title": f"v{h['version']}: {h['pass_rate'] * 100:.0f}% of checks passed "
                f"({h['status']}, suite r{h['revision']})",
                "version": h["version"],
                "label_x": round(x + step / 2, 2),
                "labelled": i % every == 0 or i == len(history) - 1,
            }
        )
    ticks = [
        {"y": round(bottom - plot_h * share, 2), "label": f"{share * 100:.0f}%"} for share in (0, 0.5, 1)
    ]
    return {
        "width": width,
        "height": height,
        "left": _LEFT,
        "right": width - _RIGHT,
        "top": _TOP,
        "bottom": bottom,
        "label_y": bottom + 14,
        "title_x": round(_LEFT + plot_w / 2, 2),
        "title_y": height - 6,
        "middle_y": round(_TOP + plot_h / 2, 2),
        "ticks": ticks,
        "bars": bars,
    }
