"""Presentation helpers shared by the admin lists, so pages fit a 1400 px window (#22)."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString


def clipped(text: object, *, wide: bool = False) -> SafeString:
    """Text on one line, cut with an ellipsis by the stylesheet (monitoring/admin.css,
    `.clip`) when too long for its column; the whole text stays in the title."""
    value = "" if text is None else str(text)
    css = "clip clip-wide" if wide else "clip"
    return format_html('<span class="{}" title="{}">{}</span>', css, value, value)


def percent(share: float | None, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage ("73.3 %"), or a dash."""
    if share is None:
        return "—"
    return f"{share * 100:.{digits}f} %"
