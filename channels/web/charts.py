"""Bar charts as inline SVG, drawn on the server: no script, no library, no CDN.

Every label and value is escaped (``markupsafe``): a queue or agent name is text.
"""

from __future__ import annotations

from markupsafe import Markup, escape

ROW, LABEL_W, BAR_W, VALUE_W = 26, 150, 260, 80


def bars(title: str, items: list[tuple[str, float | None]], unit: str = "") -> Markup:
    """A horizontal bar per item (``None``: no figure, drawn as a dash), scaled to the
    largest value; ``unit`` ``%`` shows shares (0..1) as percentages."""
    top = max((v for _, v in items if v is not None), default=0.0) or 1.0
    height = ROW * max(len(items), 1) + 8
    width = LABEL_W + BAR_W + VALUE_W
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(items):
        y = 4 + i * ROW
        short = label if len(label) <= 22 else label[:21] + "\u2026"
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 17}" text-anchor="end" font-size="13"'
            f' fill="#1d2330">{escape(short)}</text>'
        )
        if value is None:
            text = "\u2013"
        else:
            w = max(1.0, BAR_W * value / top)
            parts.append(
                f'<rect x="{LABEL_W}" y="{y + 4}" width="{w:.1f}" height="{ROW - 8}"'
                f' fill="#1f4fb3" rx="2"/>'
            )
            text = f"{value * 100:.0f}%" if unit == "%" else f"{value:g}{unit}"
        parts.append(
            f'<text x="{LABEL_W + BAR_W + 6}" y="{y + 17}" font-size="13"'
            f' fill="#1d2330">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
