"""Where training and evaluation data come from: captured files or the simulator. Shared by
the `train` and `evaluate` commands; shows progress bars for the long steps. Like all of
`predictions.core` it knows no Django: the callers pass the settings it needs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from tqdm import tqdm

from predictions.core.features import FeatureFrame, batch_features
from predictions.core.simulator import simulate_history
from predictions.core.ticks import Tick


class DataError(ValueError):
    """Unusable input data; the text is a one-line message naming the file and the reason."""


def ticks_from_files(paths: list[str], *, tz: str | None, quiet: bool,
                     warn: Callable[[str], None]) -> tuple[list[Tick], str]:
    from predictions.core.tickfiles import MarketFileError, read_ticks

    try:
        report = read_ticks(paths, tz=tz, progress=not quiet)
    except MarketFileError as exc:
        raise DataError(str(exc)) from None
    if report.errors:
        warn(f"{len(report.errors)} malformed line(s) skipped; first: "
             + "; ".join(f"{e.path}:{e.line}: {e.reason}" for e in report.errors[:3]))
    return report.ticks, "files: " + ", ".join(paths)


def ticks_simulated(*, products: list[str], seed: int, hours: float, quiet: bool,
                    end_ts: float | None = None) -> tuple[list[Tick], str]:
    duration = hours * 3600
    start = (end_ts or time.time()) - duration
    with tqdm(total=int(duration), unit="sim-s", desc="simulating", disable=quiet) as bar:
        def show(done_s: float) -> None:
            bar.n = int(done_s)
            bar.refresh()

        ticks = simulate_history(products, seed=seed, start_ts=start, duration_s=duration,
                                 progress=show)
        bar.n = int(duration)
    return ticks, f"simulated: {hours:g} h of {','.join(products)}, seed {seed}"


def features(ticks: list[Tick], *, windows: Sequence[int], gap_s: float,
             quiet: bool) -> FeatureFrame:
    """Feature rows of the ticks, with the windows and gap the service computes live."""
    if not ticks:
        raise DataError("no ticks to compute features from")
    stream = tqdm(ticks, unit="tick", desc="features", disable=quiet, mininterval=0.5)
    return batch_features(stream, windows, gap_s)
