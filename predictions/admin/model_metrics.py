"""A model version's metrics as tables an operator reads (issue #22): the held-out figures
beside the baseline and the raw rv_60s ranking, the walk-forward folds, the candidates, the
calibration by regime, the in-sample refit, and the guardrail's verdict. The raw JSON stays
one link away. Every value reaches the page through format_html, so stored text is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from predictions.core.guardrail import ml_beats_baseline

HELD_OUT_ROWS = [("rows", "n", 0), ("prevalence", "prevalence", 4), ("PR-AUC", "pr_auc", 4),
                 ("ROC-AUC", "roc_auc", 4), ("Brier", "brier", 4),
                 ("precision", "precision", 4), ("recall", "recall", 4),
                 ("threshold", "threshold", 4)]


def num(value: Any, digits: int = 4) -> str:
    """A number for a table cell: fixed digits, whole numbers with thin grouping, or n/a."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a"
    if digits == 0:
        return f"{round(value):,}"
    return f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, css: str = "",
          caption: str = "") -> SafeString:
    """An HTML table of already formatted cells (each escaped here)."""
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join("", "<tr>{}</tr>", (
        (format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows))
    cap = format_html("<caption>{}</caption>", caption) if caption else ""
    return format_html('<table class="metrics {}">{}<thead><tr>{}</tr></thead>'
                       "<tbody>{}</tbody></table>", css, cap, head, body)


def held_out_html(metrics: Mapping[str, Any]) -> SafeString:
    """ML, the baseline and raw rv_60s on the same held-out rows."""
    ml, base = metrics.get("ml") or {}, metrics.get("baseline") or {}
    rv60 = {"pr_auc": metrics.get("rv_60s_pr_auc"), "n": ml.get("n"),
            "prevalence": ml.get("prevalence")}
    rows = [(label, num(ml.get(key), d), num(base.get(key), d),
             num(rv60.get(key), d) if key in rv60 else "—")
            for label, key, d in HELD_OUT_ROWS]
    split = metrics.get("split") or {}
    caption = (f"Held out, walked forward in {split.get('folds', '?')} folds after "
               f"{num(split.get('train_rows'), 0)} train rows; a random ranking's PR-AUC "
               f"is the prevalence.")
    return table(["metric", "ML", "baseline", "raw rv_60s"], rows, caption=caption)


def _when(epoch: Any) -> str:
    if not isinstance(epoch, (int, float)):
        return "—"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def folds_html(metrics: Mapping[str, Any]) -> SafeString:
    folds = metrics.get("folds") or []
    if not folds:
        return format_html("<p>{}</p>", "no walk-forward folds recorded for this version")
    rows = [(k, _when(f.get("test_start")),
             f"{num(f.get('train_rows'), 0)} / {f.get('train_sessions', '?')}",
             f"{num(f.get('test_rows'), 0)} / {f.get('test_sessions', '?')}",
             num(f.get("prevalence"), 3),
             num((f.get("ml") or {}).get("pr_auc")), num((f.get("baseline") or {}).get("pr_auc")),
             num((f.get("rv_60s") or {}).get("pr_auc")),
             num((f.get("ml") or {}).get("brier")), num((f.get("baseline") or {}).get("brier")))
            for k, f in enumerate(folds, 1)]
    return table(["fold", "test from (UTC)", "train rows / sessions", "test rows / sessions",
                  "prevalence", "PR-AUC ML", "PR-AUC baseline", "PR-AUC rv_60s", "Brier ML",
                  "Brier baseline"], rows,
                 caption="n/a: a fold without a spike has no PR-AUC.")


def candidates_html(metrics: Mapping[str, Any]) -> SafeString:
    pr, brier = metrics.get("validation_pr_auc") or {}, metrics.get("validation_brier") or {}
    chosen = metrics.get("algorithm")
    rows = [(f"{name} (chosen)" if name == chosen else name, num(v), num(brier.get(name)))
            for name, v in pr.items()]
    return table(["candidate", "PR-AUC", "Brier"], rows,
                 caption="Candidates walked forward on the same folds (pooled).")


def calibration_html(metrics: Mapping[str, Any]) -> SafeString:
    cal = metrics.get("calibration") or {}
    ml, base = cal.get("ml") or {}, cal.get("baseline") or {}
    rows = [(regime, num(m.get("rows"), 0), num(m.get("mean_predicted")),
             num((base.get(regime) or {}).get("mean_predicted")), num(m.get("observed_rate")))
            for regime, m in ml.items()]
    return table(["regime", "rows", "ML predicted", "baseline predicted", "observed"], rows,
                 caption="Held-out calibration by volatility regime.")


def refit_html(metrics: Mapping[str, Any]) -> SafeString:
    refit = metrics.get("refit") or {}
    if not refit:
        return format_html("<p>{}</p>", "no refit recorded for this version")
    ml, base = refit.get("ml") or {}, refit.get("baseline") or {}
    rows = [("rows / sessions", f"{num(refit.get('rows'), 0)} / {refit.get('sessions', '?')}",
             ""),
            ("prevalence", num(refit.get("prevalence")), ""),
            ("label threshold (forward rv)", num(refit.get("label_threshold"), 6), ""),
            ("decision threshold", num(refit.get("ml_threshold")),
             num(refit.get("baseline_threshold"))),
            ("PR-AUC (in-sample)", num(ml.get("pr_auc")), num(base.get("pr_auc"))),
            ("Brier (in-sample)", num(ml.get("brier")), num(base.get("brier")))]
    return table(["refit on all rows", "ML", "baseline"], rows,
                 caption="The registered model: in-sample, not a measure of quality.")


def guardrail_html(metrics: Mapping[str, Any]) -> SafeString:
    ok, why = ml_beats_baseline(dict(metrics))
    verdict = "ML may serve" if ok else "the baseline serves (ML held back)"
    css = "status-ok" if ok else "status-breaching"
    return format_html('<p class="guardrail"><strong class="{}">{}</strong>: {}</p>',
                       css, verdict, why)
