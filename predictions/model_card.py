"""A model version's card: what it is, what it was trained on, and how it scored."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


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
            "PR-AUC must be read beside prevalence: a random ranking scores the prevalence.",
            "The baseline is an isotonic map of 60 s realized volatility, fitted on the same "
            "train rows.",
        ]
    )
