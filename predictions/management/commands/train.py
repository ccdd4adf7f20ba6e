"""`manage.py train`: train on simulated history, register a model version, optionally promote."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from predictions.features import batch_features
from predictions.marketdata import Tick
from predictions.models import ModelVersion
from predictions.services import model_version_train
from predictions.simulator import MarketSimulator
from predictions.training import NotEnoughData


def simulate_with_progress(products: list[str], seed: int, hours: float, quiet: bool) -> list[Tick]:
    duration = hours * 3600
    start = time.time() - duration
    ticks: list[Tick] = []
    with tqdm(total=int(duration), unit="sim-s", desc="simulating", disable=quiet) as bar:
        for tick in MarketSimulator(products, seed=seed, start_ts=start).ticks():
            if tick.ts > start + duration:
                break
            ticks.append(tick)
            bar.n = int(tick.ts - start)
            if len(ticks) % 5000 == 0:
                bar.refresh()
    return ticks


class Command(BaseCommand):
    help = "Train the ML model and fit the baseline (on simulated history), and register them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--hours", type=float, default=8.0, help="hours of simulated history")
        parser.add_argument("--seed", type=int, default=settings.SIMULATOR_SEED)
        parser.add_argument("--products", default=",".join(settings.SIMULATOR_PRODUCTS))
        parser.add_argument("--horizon", type=float, default=settings.LABEL_HORIZON_SECONDS)
        parser.add_argument("--percentile", type=float, default=settings.LABEL_PERCENTILE)
        parser.add_argument("--test-fraction", type=float, default=0.3)
        parser.add_argument("--activate", action="store_true", help="promote the new version")
        parser.add_argument("--if-none", action="store_true",
                            help="do nothing when a model version already exists")
        parser.add_argument("--json-out", default=None, help="write the test metrics here")

    def handle(self, *args, **opts) -> None:
        if opts["if_none"] and ModelVersion.objects.exists():
            self.stdout.write("a model version exists; not training (--if-none)")
            return
        if not 0 < opts["test_fraction"] < 1:
            raise CommandError("--test-fraction must be between 0 and 1")
        products = [p.strip() for p in opts["products"].split(",") if p.strip()]
        quiet = opts["verbosity"] < 1
        ticks = simulate_with_progress(products, opts["seed"], opts["hours"], quiet)
        self.stdout.write(f"computing features for {len(ticks)} ticks…")
        frame = batch_features(ticks, settings.FEATURE_WINDOWS_SECONDS,
                               settings.FEATURE_GAP_SECONDS)
        source = f"simulated: {opts['hours']:g} h of {','.join(products)}, seed {opts['seed']}"
        try:
            version = model_version_train(
                frame=frame, data_source=source, horizon_s=opts["horizon"],
                percentile=opts["percentile"], test_fraction=opts["test_fraction"],
                activate=opts["activate"], seed=opts["seed"],
            )
        except NotEnoughData as exc:
            raise CommandError(f"not enough data to train: {exc}") from None
        m = version.metrics
        self.stdout.write(
            f"registered {version.name}: test rows {m['n_rows']}, prevalence {m['prevalence']:.3f}"
            f"; PR-AUC ml {m['ml']['pr_auc']:.3f} / baseline {m['baseline']['pr_auc']:.3f}"
            f"; Brier ml {m['ml']['brier']:.4f} / baseline {m['baseline']['brier']:.4f}"
            + (" — promoted" if opts["activate"] else "")
        )
        if opts["json_out"]:
            with open(opts["json_out"], "w") as fh:
                json.dump({"model_version": version.name, **m}, fh, indent=2)
