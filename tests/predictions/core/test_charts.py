"""The SVG charts: well-formed, escaped, robust to odd input, and points where they belong."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from predictions.core import charts
from predictions.core.charts._svg import Scale

NS = {"svg": "http://www.w3.org/2000/svg"}
HOSTILE = '<script>alert("x")</script> & \'q\''

PR = {"ml": {"recall": [0.0, 0.5, 1.0], "precision": [1.0, 0.6, 0.2]},
      "baseline": {"recall": [0.0, 1.0], "precision": [0.5, 0.2]}}
BINS = {"ml": [{"p_mean": 0.05, "freq": 0.04, "n": 900}, {"p_mean": 0.5, "freq": 0.45, "n": 40}]}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 640 400"
    return root


def all_text(root: ET.Element) -> str:
    return " ".join(t for el in root.iter() for t in (el.text or "",))


def every_chart(label: str) -> list[str]:
    return [
        charts.pr_curve_svg({label: PR["ml"]}, 0.1, label),
        charts.reliability_svg({label: BINS["ml"]}, label),
        charts.line_chart_svg({label: [(0, 1), (1, 2)]}, title=label, x_label=label,
                              y_label=label, markers={label: [0.5]}),
        charts.histogram_svg({label: [1, 2, 2, 3]}, title=label, x_label=label, y_label=label),
    ]


def test_every_chart_is_well_formed_and_titled():
    for svg in every_chart("rv_60s"):
        root = parse(svg)
        assert root.find("svg:title", NS).text == "rv_60s"


def test_it_escapes_hostile_labels():
    for svg in every_chart(HOSTILE):
        assert "<script" not in svg
        root = parse(svg)
        assert root.find("svg:title", NS).text == HOSTILE  # escaped, so it reads back intact
        assert not list(root.iter("{http://www.w3.org/2000/svg}script"))


@pytest.mark.parametrize("series", [
    {},
    {"empty": []},
    {"one": [(5.0, 2.0)]},
    {"nan": [(0, 1), (1, math.nan), (2, 3), (math.inf, 1)]},
    {"all nan": [(math.nan, math.nan)]},
    {"flat": [(0, 1), (1, 1)]},
])
def test_line_chart_survives_empty_single_and_nan_series(series):
    root = parse(charts.line_chart_svg(series, title="t", x_label="x", y_label="y"))
    for el in root.iter():
        for name in ("x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r"):
            if el.get(name) is not None:
                assert math.isfinite(float(el.get(name)))
        assert "nan" not in (el.get("d") or "").lower()


def test_the_other_charts_survive_empty_and_nan_input():
    parse(charts.pr_curve_svg({}, None, "t"))
    parse(charts.pr_curve_svg({"ml": {"recall": [], "precision": []}}, math.nan, "t"))
    parse(charts.pr_curve_svg({"ml": {"recall": [0.5], "precision": [math.nan]}}, 0.1, "t"))
    parse(charts.reliability_svg({}, "t"))
    parse(charts.reliability_svg({"ml": [{"p_mean": math.nan, "freq": 0.1, "n": 0}]}, "t"))
    parse(charts.histogram_svg({}, title="t", x_label="x"))
    parse(charts.histogram_svg({"a": [math.nan, 1.0]}, title="t", x_label="x"))
    parse(charts.step_histogram_svg({"a": []}, [], title="t", x_label="x"))


def test_a_pr_curve_point_lands_where_expected():
    svg = charts.pr_curve_svg({"ml": {"recall": [0.5], "precision": [0.5]}}, None, "t")
    unit = Scale(0, 1, 0, 1)
    x, y = unit.px(0.5), unit.py(0.5)
    assert f"M{x:.2f} {y:.2f}" in svg
    assert (x, y) == (346.0, 194.0)  # the middle of the plot area


def test_the_prevalence_line_is_drawn_at_its_height():
    svg = charts.pr_curve_svg(PR, 0.25, "t")
    y = Scale(0, 1, 0, 1).py(0.25)
    assert f'y1="{y:.2f}" x2="{Scale(0, 1, 0, 1).px(1):.2f}" y2="{y:.2f}"' in svg
    assert "prevalence 0.250" in svg


def test_reliability_marks_each_bin_with_its_row_count():
    root = parse(charts.reliability_svg(BINS, "calibration"))
    titles = [el.find("svg:title", NS).text for el in root.iter("{http://www.w3.org/2000/svg}circle")]
    assert titles == ["ml: n=900", "ml: n=40"]
    radii = [float(el.get("r")) for el in root.iter("{http://www.w3.org/2000/svg}circle")]
    assert radii[0] > radii[1]


def test_line_chart_places_a_point_and_labels_time():
    series = {"score": [(1_700_000_000.0, 0.0), (1_700_003_600.0, 1.0)]}
    svg = charts.line_chart_svg(series, title="t", x_label="time (UTC)", y_label="score",
                                x_is_time=True, y_range=(0.0, 1.0), markers=[1_700_001_800.0])
    scale = Scale(1_700_000_000.0, 1_700_003_600.0, 0.0, 1.0)
    assert f"M{scale.px(1_700_000_000.0):.2f} {scale.py(0.0):.2f}" in svg
    assert "22:30" in svg  # a UTC tick label inside that hour
    assert svg.count("<path d=\"M") >= 2


def test_histogram_shares_and_bars():
    assert charts.bin_shares([0, 0.5, 1, 1, math.nan], [0, 0.5, 1]) == [0.25, 0.75]
    svg = charts.histogram_svg({"a": [0, 1, 1, 1]}, title="t", x_label="x", bins=2,
                               x_range=(0, 1))
    parse(svg)
    scale = Scale(0.0, 1.0, 0.0, 0.75 * 1.08)
    assert f"L{scale.px(0.5):.2f} {scale.py(0.75):.2f}" in svg  # the right bar's top


def test_the_docs_script_draws_both_pictures_from_the_quality_json(tmp_path, capsys):
    import json

    from bench.draw_model_quality import main

    data = tmp_path / "model_quality_real.json"
    assert main(["--data", str(data), "--out", str(tmp_path)]) == 1
    assert "does not exist yet" in capsys.readouterr().err
    data.write_text(json.dumps({"prevalence": 0.1, "pr_curves": PR, "reliability": BINS}))
    assert main(["--data", str(data), "--out", str(tmp_path)]) == 0
    parse((tmp_path / "pr_curve_real.svg").read_text())
    parse((tmp_path / "reliability_real.svg").read_text())
