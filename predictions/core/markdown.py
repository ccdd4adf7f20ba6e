"""A small, safe Markdown subset → HTML, for the model cards we write ourselves
(predictions.core.model_card): headings, paragraphs, `-` lists, pipe tables, **bold**,
*emphasis* and `code`. No links, images or raw HTML.

Safety comes first: every line is HTML-escaped before any markup is added, and the markup
added is a fixed set of tags without attributes, so no stored text can reach the page as
markup. Anything the subset does not know is shown as escaped text.
"""

from __future__ import annotations

import html
import re

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_EM = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


def inline(text: str) -> str:
    """Escape, then code spans (their content left as is), bold and emphasis."""
    parts = _CODE.split(html.escape(text, quote=True))
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
        else:
            out.append(_EM.sub(r"<em>\1</em>", _BOLD.sub(r"<strong>\1</strong>", part)))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    head, body = lines[0], [ln for ln in lines[1:] if not _RULE.match(ln.strip())]
    ths = "".join(f"<th>{inline(c)}</th>" for c in _cells(head))
    rows = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in _cells(ln)) + "</tr>"
                   for ln in body)
    return f"<table><thead><tr>{ths}</tr></thead><tbody>{rows}</tbody></table>"


def render(text: str) -> str:
    """The HTML of `text` (blocks separated by blank lines or by a change of kind)."""
    blocks: list[str] = []
    lines = (text or "").replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            i += 1
            continue
        if m := _HEADING.match(line):
            level = len(m.group(1))
            blocks.append(f"<h{level}>{inline(m.group(2))}</h{level}>")
            i += 1
            continue
        kind = "table" if line.lstrip().startswith("|") else \
            "list" if line.lstrip().startswith(("- ", "* ")) else "p"
        group = []
        while i < len(lines) and lines[i].strip() and _kind(lines[i]) == kind:
            group.append(lines[i].rstrip())
            i += 1
        if kind == "table" and len(group) >= 2 and _RULE.match(group[1].strip()):
            blocks.append(_table(group))
        elif kind == "list":
            items = "".join(f"<li>{inline(g.lstrip()[2:])}</li>" for g in group)
            blocks.append(f"<ul>{items}</ul>")
        else:
            blocks.append("<p>" + "<br>".join(inline(g.strip()) for g in group) + "</p>")
    return "\n".join(blocks)


def _kind(line: str) -> str:
    s = line.lstrip()
    if _HEADING.match(s):
        return "heading"
    return "table" if s.startswith("|") else "list" if s.startswith(("- ", "* ")) else "p"
