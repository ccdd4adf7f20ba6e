"""The model card's Markdown subset: rendered as HTML, and never a way in for markup."""

from __future__ import annotations

from predictions.core.markdown import inline, render


def test_it_renders_headings_lists_tables_and_inline_marks():
    html = render("# Model card: v1\n\n- **Algorithm**: logistic\n- `rv_60s` *raw*\n\n"
                  "| metric | ML |\n|---|---|\n| PR-AUC | 0.6795 |\n\nA closing line.\nIts tail.")
    assert html.splitlines() == [
        "<h1>Model card: v1</h1>",
        "<ul><li><strong>Algorithm</strong>: logistic</li>"
        "<li><code>rv_60s</code> <em>raw</em></li></ul>",
        "<table><thead><tr><th>metric</th><th>ML</th></tr></thead>"
        "<tbody><tr><td>PR-AUC</td><td>0.6795</td></tr></tbody></table>",
        "<p>A closing line.<br>Its tail.</p>",
    ]


def test_it_escapes_markup_everywhere():
    hostile = ('# <script>alert(1)</script>\n- <img src=x onerror="alert(1)">\n'
               "| <b>h</b> |\n|---|\n| <iframe> |\n\n`<svg onload=x>` **<a href=javascript:x>**")
    html = render(hostile)
    for tag in ("<script", "<img", "<iframe", "<svg", "<a ", "<b>"):
        assert tag not in html
    assert "&lt;script&gt;" in html and "&quot;alert(1)&quot;" in html


def test_a_table_without_its_rule_line_stays_text():
    assert render("| a | b |\n| c | d |") == "<p>| a | b |<br>| c | d |</p>"


def test_stars_inside_words_and_lone_stars_are_left_alone():
    assert inline("2 * 3 * 4 and snake_case*x*y") == "2 * 3 * 4 and snake_case*x*y"
    assert render("") == ""
