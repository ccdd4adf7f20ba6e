"""`manage.py train`: fit the ML model and the baseline honestly, register a model version."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from predictions.core import datasets
from predictions.core.training import NotEnoughData
from predictions.models import ModelVersion
from predictions.services import model_version_train

TRAIN_STEPS = 5  # baseline, validate × 2 candidates, calibrate, evaluate


class Command(BaseCommand):
    help = ("Train on captured tick files (--data) or simulated history, evaluate ML and "
            "baseline on a later, purged test period, and register a model version.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--data", nargs="+", metavar="PATH",
                            help="captured tick files (any supported format, gzip ok)")
        parser.add_argument("--tz", default=None, help="zone of naive timestamps (default UTC)")
        parser.add_argument("--hours", type=float, default=8.0,
                            help="hours of simulated history (without --data)")
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
        if not 0 < opts["percentile"] < 100:
            raise CommandError("--percentile must be between 0 and 100")
        if opts["horizon"] <= 0:
            raise CommandError("--horizon must be positive")
        quiet = opts["verbosity"] < 1
        try:
            ticks, source = load_ticks(opts, quiet, warn=lambda m: self.stderr.write(m))
            frame = datasets.features(ticks, windows=settings.FEATURE_WINDOWS_SECONDS,
                                      gap_s=settings.FEATURE_GAP_SECONDS, quiet=quiet)
        except datasets.DataError as exc:
            raise CommandError(str(exc)) from None
        with tqdm(total=TRAIN_STEPS, desc="training", unit="step", disable=quiet) as bar:
            def say(step: str) -> None:
                bar.set_postfix_str(step)
                bar.update(1)

            try:
                version = model_version_train(
                    frame=frame, data_source=source, horizon_s=opts["horizon"],
                    percentile=opts["percentile"], test_fraction=opts["test_fraction"],
                    activate=opts["activate"], seed=opts["seed"], say=say,
                )
            except NotEnoughData as exc:
                raise CommandError(f"not enough data to train: {exc}") from None
        m = version.metrics
        self.stdout.write(
            f"registered {version.name} ({m['algorithm']}): test rows {m['n_rows']}, "
            f"prevalence {m['prevalence']:.3f}; PR-AUC ml {m['ml']['pr_auc']:.3f} / baseline "
            f"{m['baseline']['pr_auc']:.3f}; Brier ml {m['ml']['brier']:.4f} / baseline "
            f"{m['baseline']['brier']:.4f}" + (" — promoted" if opts["activate"] else "")
        )
        if opts["json_out"]:
            with open(opts["json_out"], "w") as fh:
                json.dump({"model_version": version.name, **m}, fh, indent=2)


def load_ticks(opts: dict, quiet: bool, warn) -> tuple[list, str]:
    if opts["data"]:
        return datasets.ticks_from_files(opts["data"], tz=opts["tz"], quiet=quiet, warn=warn)
    products = [p.strip() for p in opts["products"].split(",") if p.strip()]
    if not products:
        raise datasets.DataError("--products names no product")
    return datasets.ticks_simulated(products=products, seed=opts["seed"], hours=opts["hours"],
                                    quiet=quiet)
