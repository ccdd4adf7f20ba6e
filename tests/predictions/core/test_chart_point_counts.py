"""Line charts with 0, 1, 2 and many points: a sensible axis, a handful of readable tick
labels, nothing cut at the picture's edge (the issue #22 screenshots: a single point drew
~600 grid lines and a black bar of labels; an empty chart cut "00:00:01" to "00:00:0")."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from predictions.core import charts
from predictions.core.charts._svg import BOTTOM, HEIGHT, LEFT, RIGHT, WIDTH

SVG = "{http://www.w3.org/2000/svg}"
T0 = 1_796_644_800.0  # 2026-12-07 12:00:00 UTC
TICK_LABEL_Y = HEIGHT - BOTTOM + 16

TIME_CASES = {
    0: [],
    1: [(T0, 0.42)],
    2: [(T0, 0.2), (T0 + 60, 0.4)],
    "many": [(T0 + 60 * i, (i % 7) / 10) for i in range(24 * 60)],
}


def chart(points, *, x_is_time=True, y_range=(0.0, 1.0)):
    return ET.fromstring(charts.line_chart_svg(
        {"p99": points}, title="latency", x_label="time (UTC)", y_label="seconds",
        x_is_time=x_is_time, y_range=y_range))


def x_tick_labels(root):
    return [el for el in root.iter(f"{SVG}text") if el.get("y") == str(TICK_LABEL_Y)]


def vertical_grid_lines(root):
    return [el for el in root.iter(f"{SVG}line")
            if el.get("x1") == el.get("x2") and el.get("y1") != el.get("y2")]


def extent(el):
    """The horizontal span a label covers (~7 px a character at font-size 12)."""
    x, width = float(el.get("x")), 7 * len(el.text or "")
    anchor = el.get("text-anchor", "start")
    left = x - width / 2 if anchor == "middle" else x - width if anchor == "end" else x
    return left, left + width


def assert_labels_readable(root):
    labels = x_tick_labels(root)
    spans = sorted(extent(el) for el in labels)
    for left, right in spans:
        assert 0 <= left and right <= WIDTH, spans
    for (_, right), (left, _) in zip(spans, spans[1:]):
        assert right <= left, f"overlapping tick labels {spans}"
    texts = [el.text for el in labels]
    assert len(texts) == len(set(texts)), texts


@pytest.mark.parametrize("n", [1, 2, "many"])
def test_a_time_chart_has_a_few_distinct_ticks_that_do_not_overlap(n):
    root = chart(TIME_CASES[n])
    assert 2 <= len(x_tick_labels(root)) <= 7
    assert len(vertical_grid_lines(root)) <= 7  # no hatching
    assert_labels_readable(root)


def test_a_single_point_sits_in_the_middle_of_ten_minutes():
    root = chart(TIME_CASES[1])
    dots = list(root.iter(f"{SVG}circle"))
    assert len(dots) == 1
    assert float(dots[0].get("cx")) == pytest.approx((LEFT + WIDTH - RIGHT) / 2)
    assert [el.text for el in x_tick_labels(root)] == ["11:55", "12:00", "12:05"]


def test_a_single_point_without_time_gets_a_non_degenerate_axis():
    root = chart([(5.0, 2.0)], x_is_time=False, y_range=None)
    labels = [float(el.text) for el in x_tick_labels(root)]
    assert len(labels) >= 3 and min(labels) < 5.0 < max(labels)
    dot = next(root.iter(f"{SVG}circle"))
    assert float(dot.get("cx")) == pytest.approx((LEFT + WIDTH - RIGHT) / 2)
    assert_labels_readable(root)


def test_two_points_span_the_whole_plot():
    root = chart(TIME_CASES[2])
    path = next(el for el in root.iter(f"{SVG}path") if el.get("stroke") == "#0072B2")
    assert path.get("d").startswith(f"M{LEFT:.2f} ")
    assert f"L{WIDTH - RIGHT:.2f} " in path.get("d")


def test_an_empty_chart_says_so_and_labels_no_make_believe_times():
    root = chart(TIME_CASES[0])
    texts = [el.text for el in root.iter(f"{SVG}text")]
    assert "no data" in texts
    assert "time (UTC)" in texts
    assert x_tick_labels(root) == []
    assert not any(t and t.startswith("00:00") for t in texts)


def test_the_last_tick_label_is_never_cut_at_the_right_edge():
    # a range whose last tick lands exactly on the plot's right edge
    root = chart([(T0, 0.1), (T0 + 300, 0.2)])
    labels = x_tick_labels(root)
    assert labels[-1].text == "12:05:00"
    assert labels[-1].get("text-anchor") == "end"
    assert_labels_readable(root)


def test_a_range_of_years_still_gets_few_ticks():
    root = chart([(T0 - 3 * 365 * 86400, 0.1), (T0, 0.2)])
    assert 2 <= len(x_tick_labels(root)) <= 7
