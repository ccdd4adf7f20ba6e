"""Burn-rate arithmetic and multiwindow alert state (monitoring/burn.py) against cases worked
out by hand, and the budget and quantile helpers of monitoring/slo.py."""

from __future__ import annotations

import math

import pytest

from monitoring.burn import (
    NO_DATA,
    PAGE,
    QUIET,
    TICKET,
    TIERS,
    WINDOWS,
    alert_state,
    burn_rate,
    burn_rates,
)
from monitoring.slo import bucket_quantile, budget_remaining


def rates(**values: float | None) -> dict[str, float | None]:
    """Burn rates of every window: 0 unless given (`h1` names the 1h window, `m5` the 5m,
    `d3` the 3d one, …)."""
    names = {f"{n[-1]}{n[:-1]}": n for n, _ in WINDOWS}
    out: dict[str, float | None] = {name: 0.0 for name, _ in WINDOWS}
    out.update({names[k]: v for k, v in values.items()})
    return out


def test_a_window_with_no_events_has_no_burn_rate():
    assert burn_rate(0, 0, 0.99) is None
    assert burn_rates({}, 0.99) == {name: None for name, _ in WINDOWS}


def test_a_window_with_every_event_bad_burns_at_one_over_the_allowed_share():
    # All bad: the bad ratio is 1; the target allows 1 %, or 0.5 %.
    assert burn_rate(0, 1000, 0.99) == pytest.approx(100.0)
    assert burn_rate(0, 7, 0.995) == pytest.approx(200.0)


def test_burn_rates_are_the_bad_ratio_over_the_allowed_one():
    assert burn_rate(995, 1000, 0.99) == pytest.approx(0.5)  # 5 bad of 10 allowed
    assert burn_rate(990, 1000, 0.99) == pytest.approx(1.0)  # exactly the budget's pace
    assert burn_rate(980, 1000, 0.99) == pytest.approx(2.0)
    assert burn_rate(856, 1000, 0.99) == pytest.approx(14.4)
    assert burn_rate(1000, 1000, 0.99) == 0.0


def test_a_target_of_one_allows_no_bad_event():
    assert burn_rate(10, 10, 1.0) == 0.0
    assert math.isinf(burn_rate(9, 10, 1.0))


def test_burn_rates_read_each_window_from_its_own_counts():
    counts = {"5m": (0, 100), "1h": (950, 1000), "3d": (99_000, 100_000)}
    got = burn_rates(counts, 0.99)
    assert got["5m"] == pytest.approx(100.0)
    assert got["1h"] == pytest.approx(5.0)
    assert got["3d"] == pytest.approx(1.0)
    assert got["30m"] is None and got["1d"] is None


def test_the_tiers_are_the_workbook_ones():
    assert [(t.severity, t.factor, t.long, t.short) for t in TIERS] == [
        (PAGE, 14.4, "1h", "5m"), (PAGE, 6.0, "6h", "30m"),
        (TICKET, 3.0, "1d", "2h"), (TICKET, 1.0, "3d", "6h")]
    assert [round(t.budget_spent, 4) for t in TIERS] == [0.02, 0.05, 0.1, 0.1]


def test_a_fast_burn_pages_only_while_the_short_window_confirms_it():
    assert alert_state(rates(h1=15.0, m5=15.0)).level == PAGE
    assert alert_state(rates(h1=15.0, m5=15.0)).firing == ("fast_burn",)
    assert alert_state(rates(h1=15.0, m5=2.0)).level == QUIET  # it stopped
    assert alert_state(rates(h1=2.0, m5=50.0)).level == QUIET  # a blip
    assert alert_state(rates(h1=14.4, m5=14.4)).level == QUIET  # "above", not "at"


def test_a_slow_burn_pages_and_the_ticket_tiers_open_tickets():
    assert alert_state(rates(h6=7.0, m30=7.0)).firing == ("slow_burn",)
    state = alert_state(rates(d1=3.5, h2=3.5, d3=1.2, h6=3.5))
    assert state.level == TICKET and state.firing == ("budget_burn", "budget_drain")
    assert alert_state(rates(d3=1.5, h6=1.5)).level == TICKET
    assert alert_state(rates(d3=1.5, h6=0.5)).level == QUIET


def test_a_page_outranks_a_ticket():
    state = alert_state(rates(h1=20.0, m5=20.0, d1=20.0, h2=20.0))
    assert state.level == PAGE and state.firing == ("fast_burn", "budget_burn")


def test_a_window_without_events_cannot_fire_its_tier():
    assert alert_state(rates(h1=20.0, m5=None)).level == QUIET
    assert alert_state(rates(h6=None, m30=None, d3=None, h1=None, m5=None, h2=None,
                             d1=None)) == alert_state(rates(d3=None))
    assert alert_state(rates(d3=None)).level == NO_DATA


def test_every_event_bad_in_every_window_fires_every_tier():
    all_bad = burn_rates({name: (0, 10) for name, _ in WINDOWS}, 0.99)
    assert alert_state(all_bad).firing == tuple(t.key for t in TIERS)


def test_the_budget_left_is_the_share_of_allowed_bad_events_not_spent():
    assert budget_remaining(995, 1000, 0.99) == pytest.approx(0.5)
    assert budget_remaining(980, 1000, 0.99) == pytest.approx(-1.0)
    assert budget_remaining(0, 1000, 0.99) == pytest.approx(-99.0)  # every event bad
    assert budget_remaining(0, 0, 0.99) is None  # no events
    assert budget_remaining(10, 10, 1.0) == 1.0


def test_quantiles_interpolate_inside_the_bucket_like_prometheus():
    edges = (0.5, 1.0, 2.5)
    # 240 within 0.5 s, 285 within 1 s, all 300 within 2.5 s (tests/monitoring/prometheus).
    assert bucket_quantile(0.5, edges, [240, 285, 300], 300) == pytest.approx(0.3125)
    assert bucket_quantile(0.99, edges, [240, 285, 300], 300) == pytest.approx(2.2)
    assert bucket_quantile(0.99, edges, [0, 0, 0], 10) == 2.5  # above the last edge
    assert bucket_quantile(0.5, edges, [0, 0, 0], 0) is None
