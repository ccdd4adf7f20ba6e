"""Run Evidently's DataDriftPreset and read its results. Imports Evidently lazily: it takes
seconds to import, which web processes should not pay at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drift.methods import is_drifted


@dataclass
class DriftResult:
    share_drifted: float
    n_drifted: int
    features: list[dict[str, Any]]
    html: str


def run_drift(reference: Any, current: Any, *, method: str, threshold: float | None,
              share: float) -> DriftResult:
    """Compare two DataFrames with the same columns."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    preset = DataDriftPreset(num_method=method, num_threshold=threshold, drift_share=share)
    snapshot = Report([preset]).run(current_data=current, reference_data=reference)
    features: list[dict[str, Any]] = []
    share_drifted, n_drifted = 0.0, 0
    for item in snapshot.dict()["metrics"]:
        config, value = item["config"], item["value"]
        if config["type"] == "evidently:metric_v2:DriftedColumnsCount":
            share_drifted, n_drifted = float(value["share"]), int(value["count"])
        elif config["type"] == "evidently:metric_v2:ValueDrift":
            score = float(value)
            features.append(
                {
                    "feature": config["column"],
                    "method": config["method"],
                    "threshold": float(config["threshold"]),
                    "score": score,
                    "drifted": is_drifted(config["method"], score, float(config["threshold"])),
                }
            )
    return DriftResult(share_drifted, n_drifted, features, snapshot.get_html_str(as_iframe=False))
