"""A model version's card: what it is, what it was trained on, and how it scored."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _candidates(metrics: dict[str, Any]) -> str:
    scores = metrics.get("validation_pr_auc", {})
    return ", ".join(f"{name} {value:.4f}" for name, value in scores.items()) or "n/a"


def _calibration_rows(metrics: dict[str, Any]) -> list[str]:
    cal = metrics.get("calibration", {})
    rows = []
    for regime, ml in cal.get("ml", {}).items():
        base = cal.get("baseline", {}).get(regime, {})
        rows.append(f"| {regime} | {ml['rows']} | {ml['mean_predicted']:.4f} | "
                    f"{base.get('mean_predicted', float('nan')):.4f} | {ml['observed_rate']:.4f} |")
    return rows


def render(*, name: str, algorithm: str, data_source: str, feature_names: list[str],
           metrics: dict[str, Any], train_span: str, test_span: str) -> str:
    rows = []
    for key in ("pr_auc", "roc_auc", "brier", "precision", "recall", "threshold"):
        rows.append(f"| {key} | {_fmt(metrics['ml'][key])} | {_fmt(metrics['baseline'][key])} |")
    return "\n".join(
        [
            f"# Model card: {name}",
            "",
            f"- **Algorithm**: {algorithm}",
            f"- **Data**: {data_source}",
            f"- **Train span**: {train_span}",
            f"- **Test span**: {test_span} (after a {metrics['horizon_s']:g} s purge gap)",
            f"- **Label**: forward realized volatility over {metrics['horizon_s']:g} s at or above "
            f"the train {metrics['percentile']:g}th percentile ({metrics['label_threshold']:.6f})",
            f"- **Test rows**: {metrics['n_rows']}, prevalence {metrics['prevalence']:.4f} "
            f"(train prevalence {metrics['train_prevalence']:.4f})",
            f"- **Features** ({len(feature_names)}): {', '.join(feature_names)}",
            "",
            "| metric (test) | ML | baseline |",
            "|---|---|---|",
            *rows,
            "",
            "Candidates compared walking forward over purged time blocks of train "
            f"(pooled PR-AUC): {_candidates(metrics)}.",
            "",
            "Calibration on test by volatility regime (mean predicted vs observed spike rate):",
            "",
            "| regime | rows | ML predicted | baseline predicted | observed |",
            "|---|---|---|---|---|",
            *_calibration_rows(metrics),
            "",
            "PR-AUC must be read beside prevalence: a random ranking scores the prevalence.",
            "The baseline is an isotonic map of 60 s realized volatility, fitted on the same "
            "train rows.",
        ]
    )
