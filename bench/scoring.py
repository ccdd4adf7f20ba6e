"""Scoring cost per row for each variant, for 1 row and for a batch of 500, beside raw
scikit-learn predict_proba of the same ML model on the same rows (the reference)."""

from __future__ import annotations

import numpy as np

from bench.common import best_seconds, table
from predictions.core.features import batch_features
from predictions.core.scorers import (
    BaselineScorer,
    MLScorer,
    dump_model,
    load_model,
    ml_scorer,
    sha256_hex,
)
from predictions.core.simulator import simulate_history
from predictions.core.training import train


def main() -> None:
    ticks = simulate_history(["BTC-USD", "ETH-USD"], seed=1, start_ts=1.7e9, duration_s=4 * 3600)
    frame = batch_features(ticks, [30, 60, 300], 30.0)
    result = train(frame, horizon_s=60.0, percentile=90.0, test_fraction=0.3)
    artifact = dump_model(result.model)
    model = load_model(artifact, sha256_hex(artifact))  # what serving runs: the loaded artifact
    served = ml_scorer(model, result.ml_threshold, frame.X[:500])
    scorers = {
        f"ml served ({result.algorithm}, compiled ≤{served.compiled_max_rows} rows)": served,
        "ml via sklearn (MLScorer without compiling)": MLScorer(model, result.ml_threshold),
        "baseline (logistic map of log rv_60s)": BaselineScorer.from_params(result.baseline_params,
                                                                        frame.names),
    }
    rng = np.random.default_rng(0)
    rows = []
    for size in (1, 500):
        X = np.ascontiguousarray(frame.X[rng.choice(len(frame.X), size)])
        number = 200 if size == 1 else 20
        raw = best_seconds(lambda X=X: model.predict_proba(X), number=number) / size
        for name, scorer in scorers.items():
            s = best_seconds(lambda X=X, scorer=scorer: scorer.score(X), number=number) / size
            rows.append([name, size, f"{s * 1e6:.2f}", f"{raw / s:.2f}x"])
        rows.append(["sklearn predict_proba (reference)", size, f"{raw * 1e6:.2f}", "1.00x"])
    print(table("Scoring cost per row (best of 5 rounds)",
                ["scorer", "rows/call", "µs/row", "speed vs sklearn"], rows))


if __name__ == "__main__":
    main()
