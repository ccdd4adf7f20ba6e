"""A model version's card: what it is, what it was trained on, and how it scored.

The numbers in the table are held-out: every row was predicted walking forward by a model
fitted only on earlier sessions. The registered model is the same procedure refit on all
rows; its in-sample numbers are shown apart and are not a measure of quality. The data for
the pictures (PR curves, reliability bins, per regime) lives in the version's metrics.
"""

from __future__ import annotations

from typing import Any


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _candidates(metrics: dict[str, Any]) -> str:
    pr = metrics.get("validation_pr_auc", {})
    brier = metrics.get("validation_brier", {})
    return ", ".join(f"{name} PR-AUC {_fmt(value)} / Brier {_fmt(brier.get(name))}"
                     for name, value in pr.items()) or "n/a"


def _calibration_rows(metrics: dict[str, Any]) -> list[str]:
    cal = metrics.get("calibration", {})
    rows = []
    for regime, ml in cal.get("ml", {}).items():
        base = cal.get("baseline", {}).get(regime, {})
        rows.append(f"| {regime} | {ml['rows']} | {ml['mean_predicted']:.4f} | "
                    f"{base.get('mean_predicted', float('nan')):.4f} | {ml['observed_rate']:.4f} |")
    return rows


def _fold_rows(metrics: dict[str, Any]) -> list[str]:
    return [f"| {k} | {f['train_rows']} / {f['train_sessions']} | {f['test_rows']} / "
            f"{f['test_sessions']} | {f['prevalence']:.3f} | {_fmt(f['ml']['pr_auc'])} | "
            f"{_fmt(f['baseline']['pr_auc'])} | {_fmt(f['rv_60s']['pr_auc'])} | "
            f"{_fmt(f['ml']['brier'])} | {_fmt(f['baseline']['brier'])} |"
            for k, f in enumerate(metrics.get("folds", []), 1)]


def render(*, name: str, algorithm: str, data_source: str, feature_names: list[str],
           metrics: dict[str, Any], train_span: str, test_span: str) -> str:
    rows = [f"| {key} | {_fmt(metrics['ml'][key])} | {_fmt(metrics['baseline'][key])} |"
            for key in ("pr_auc", "roc_auc", "brier", "precision", "recall", "threshold")]
    refit = metrics.get("refit", {})
    split = metrics.get("split", {})
    return "\n".join([
        f"# Model card: {name}",
        "",
        f"- **Algorithm**: {algorithm}",
        f"- **Data**: {data_source}",
        f"- **Registered model**: refit on all rows, {train_span} ({refit.get('rows')} rows, "
        f"{refit.get('sessions')} sessions)",
        f"- **Held-out part**: {test_span}, walked forward in {split.get('folds')} folds after "
        f"{split.get('train_rows')} train rows ({split.get('train_sessions')} sessions), "
        f"purge gap {metrics['horizon_s']:g} s",
        f"- **Label**: forward realized volatility over {metrics['horizon_s']:g} s at or above "
        f"the {metrics['percentile']:g}th percentile of the train rows (refit: "
        f"{metrics['label_threshold']:.6f}; each fold used its own train's)",
        f"- **Held-out rows**: {metrics['n_rows']}, prevalence {metrics['prevalence']:.4f}; "
        f"raw rv_60s ranking PR-AUC {_fmt(metrics.get('rv_60s_pr_auc'))}",
        f"- **Features** ({len(feature_names)}): {', '.join(feature_names)}",
        "",
        "| metric (held-out, walk-forward) | ML | baseline |",
        "|---|---|---|",
        *rows,
        "",
        "| fold | train rows / sessions | test rows / sessions | prevalence | PR-AUC ML | "
        "PR-AUC baseline | PR-AUC rv_60s | Brier ML | Brier baseline |",
        "|---|---|---|---|---|---|---|---|---|",
        *_fold_rows(metrics),
        "",
        f"Candidates walked forward (pooled): {_candidates(metrics)}.",
        "",
        "Calibration held-out by volatility regime (mean predicted vs observed spike rate):",
        "",
        "| regime | rows | ML predicted | baseline predicted | observed |",
        "|---|---|---|---|---|",
        *_calibration_rows(metrics),
        "",
        f"Refit on all rows (in-sample, not a quality measure): PR-AUC ML "
        f"{_fmt(refit.get('ml', {}).get('pr_auc'))}, Brier ML "
        f"{_fmt(refit.get('ml', {}).get('brier'))}, prevalence {_fmt(refit.get('prevalence'))}.",
        "",
        "PR-AUC must be read beside prevalence: a random ranking scores the prevalence.",
        "The baseline is a logistic map of log rv_60s (strictly monotone, so it ranks as raw "
        "rv_60s does), fitted on the same train rows.",
    ])
