"""An SVG chart of one `make bench` run: ours, fair libvips and the seed approach, per image and per size class.

Plain SVG written by hand (no plotting library in the dependencies): grouped horizontal bars, milliseconds on a
shared scale per panel, each bar labelled with its value.
"""

from __future__ import annotations

import statistics
from html import escape
from typing import Any

SERIES = (("ours", "#2b6cb0"), ("vips", "#dd6b20"), ("seed", "#718096"))
LABELS = {"ours": "this pipeline", "vips": "libvips (fair)", "seed": "seed approach"}
BAR, GAP, LABEL_WIDTH, PLOT_WIDTH = 9, 8, 250, 430


def _panel(title: str, groups: list[tuple[str, dict[str, float | None]]], top: float) -> tuple[list[str], float]:
    """One panel's SVG elements and the y where it ends."""
    values = [value for _, figures in groups for value in figures.values() if value]
    scale = PLOT_WIDTH / max(values, default=1.0)
    parts = [f'<text x="10" y="{top + 16}" font-weight="bold">{escape(title)}</text>']
    y = top + 28
    for label, figures in groups:
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + 1.5 * BAR + 4}" text-anchor="end">{escape(label)}</text>')
        for name, colour in SERIES:
            value = figures.get(name)
            if value:
                width = value * scale
                parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width:.1f}" height="{BAR}" fill="{colour}"/>')
                parts.append(
                    f'<text x="{LABEL_WIDTH + width + 4:.1f}" y="{y + BAR - 1}" font-size="9">{value:.0f}</text>'
                )
            y += BAR
        y += GAP
    return parts, y + 10


def svg(report: dict[str, Any]) -> str:
    """The chart of a bench.json report."""
    images = [(row["image"], {name: row["ms"].get(name) for name, _ in SERIES}) for row in report["images"]]
    sweep = report.get("sizes", {}).get("images", [])
    classes: dict[str, dict[str, list[float]]] = {}
    for row in sweep:
        for name, _ in SERIES:
            if row["ms"].get(name):
                classes.setdefault(row["class"], {}).setdefault(name, []).append(row["ms"][name])
    medians = [
        (size, {name: statistics.median(values) for name, values in figures.items()})  # as the tables'
        for size, figures in classes.items()
    ]
    legend = [
        f'<rect x="{10 + 150 * index}" y="8" width="12" height="12" fill="{colour}"/>'
        f'<text x="{26 + 150 * index}" y="18">{LABELS[name]}</text>'
        for index, (name, colour) in enumerate(SERIES)
    ]
    parts, y = _panel("Per image, median ms (one thread)", images, 30)
    if medians:
        more, y = _panel("Size sweep, median ms per class", medians, y)
        parts += more
    width = LABEL_WIDTH + PLOT_WIDTH + 60
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y:.0f}" font-family="sans-serif"'
        f' font-size="11"><rect width="100%" height="100%" fill="white"/>' + "".join(legend + parts) + "</svg>\n"
    )
