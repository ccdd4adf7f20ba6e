"""Feature-engine throughput: streaming (one tick at a time, as the consumer runs it) beside
batch (over a whole file, as training runs it). Reference: the batch path, same ticks."""

from __future__ import annotations

from bench.common import best_seconds, table
from predictions.core.features import FeatureEngine, batch_features, feature_names
from predictions.core.simulator import simulate_history

WINDOWS = [30, 60, 300]
GAP_S = 30.0


def main() -> None:
    ticks = simulate_history(["BTC-USD", "ETH-USD", "SOL-USD"], seed=1, start_ts=1.7e9,
                             duration_s=4 * 3600)
    n = len(ticks)

    def streaming() -> None:
        engine = FeatureEngine(WINDOWS, GAP_S)
        update = engine.update
        for tick in ticks:
            update(tick)

    def batch() -> None:
        batch_features(ticks, WINDOWS, GAP_S)

    s_stream = best_seconds(streaming, repeat=3)
    s_batch = best_seconds(batch, repeat=3)
    print(table(
        f"Feature engine, {n} ticks, 3 products, windows {WINDOWS} s "
        f"({len(feature_names(WINDOWS))} features)",
        ["path", "ticks/s", "µs/tick", "vs batch"],
        [["streaming (consumer)", f"{n / s_stream:,.0f}", f"{s_stream / n * 1e6:.2f}",
          f"{s_batch / s_stream:.2f}x"],
         ["batch (training), reference", f"{n / s_batch:,.0f}", f"{s_batch / n * 1e6:.2f}",
          "1.00x"]],
    ))


if __name__ == "__main__":
    main()
