"""Charts for the UI's pages, drawn by the server as SVG: no script, no canvas, no pixel code.

:func:`bar_chart` turns labelled amounts (e.g. spend per day or per provider, in neuron) into an accessible SVG
string: one ``<rect>`` per bar with a ``<title>`` giving the exact value, the axis labelled in 0G. The numbers
stay exact (ints) until the final scaling to pixels. Templates insert the result with ``|safe``: every label is
escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ..units import format_0g

WIDTH = 640
BAR_HEIGHT = 22
GAP = 6
LABEL_WIDTH = 180
VALUE_WIDTH = 120


def bar_chart(items: Sequence[tuple[str, int]], *, title: str, unit: str = "0G") -> str:
    """A horizontal bar chart of ``(label, neuron)`` items as an SVG element (``role="img"``, titled)."""
    if any(value < 0 for _, value in items):
        raise ValueError("bar_chart draws non-negative amounts only")
    top = max((value for _, value in items), default=0)
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = max(1, len(items)) * (BAR_HEIGHT + GAP) + GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    if not items:
        parts.append(f'<text x="0" y="{BAR_HEIGHT}" class="chart-empty">nothing to show</text>')
    for index, (label, value) in enumerate(items):
        y = GAP + index * (BAR_HEIGHT + GAP)
        width = 0 if top == 0 else max(1, round(span * value / top)) if value else 0
        text = f"{format_0g(value)[: -len(' 0G')]} {unit}"
        parts.append(
            f'<g class="bar"><title>{escape(label)}: {escape(text)}</title>'
            f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT - 6}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width}" height="{BAR_HEIGHT}" rx="3"></rect>'
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + BAR_HEIGHT - 6}">{escape(text)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
