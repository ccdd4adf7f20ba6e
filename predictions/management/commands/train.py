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

# The held-out part is walked forward and the registered model is refit on all rows, so a
# large held-out share costs the model no data: it only lets the walk start early enough to
# meet more regimes (real captures come in sessions whose volatility differs a lot).
DEFAULT_TEST_FRACTION = 0.9


class Command(BaseCommand):
    help = ("Train on captured tick files (--data) or simulated history: walk forward over the "
            "later sessions (held-out, purged), choose the model there, refit it on all rows "
            "and register it; --activate serves ML only if it beat the baseline held-out.")

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
        parser.add_argument("--test-fraction", type=float, default=DEFAULT_TEST_FRACTION,
                            help="share of labelled rows walked forward as the held-out part")
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
        with tqdm(desc="training", unit="step", disable=quiet) as bar:
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
        self.stdout.write(summary(version, opts["activate"]))
        if opts["json_out"]:
            with open(opts["json_out"], "w") as fh:
                json.dump({"model_version": version.name, "serves_ml": version.serves_ml,
                           "promotion_reason": version.promotion_reason, **version.metrics},
                          fh, indent=2)


def summary(version: ModelVersion, activated: bool) -> str:
    """What was measured held-out, what was registered, and which variant serves."""
    m, split = version.metrics, version.metrics.get("split", {})
    refit = m.get("refit", {})
    lines = [
        f"registered {version.name} ({m['algorithm']})",
        f"  held-out (walk-forward over {split.get('folds')} folds after {split.get('train_rows')}"
        f" train rows in {split.get('train_sessions')} sessions): {m['n_rows']} rows in "
        f"{split.get('test_sessions')} sessions, prevalence {m['prevalence']:.3f}; PR-AUC ml "
        f"{_f(m['ml']['pr_auc'])} / baseline {_f(m['baseline']['pr_auc'])} / raw rv_60s "
        f"{_f(m.get('rv_60s_pr_auc'))}; Brier ml {m['ml']['brier']:.4f} / baseline "
        f"{m['baseline']['brier']:.4f}",
        f"  refit on all {refit.get('rows')} rows in {refit.get('sessions')} sessions: label "
        f"threshold {m['label_threshold']:.6f} (in-sample, not held-out: PR-AUC ml "
        f"{_f(refit.get('ml', {}).get('pr_auc'))}, Brier {refit.get('ml', {}).get('brier', 0):.4f})",
    ]
    if activated:
        variant = "ML" if version.serves_ml else "the baseline"
        lines.append(f"  promoted, serving {variant}: {version.promotion_reason}")
    return "\n".join(lines)


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def load_ticks(opts: dict, quiet: bool, warn) -> tuple[list, str]:
    if opts["data"]:
        return datasets.ticks_from_files(opts["data"], tz=opts["tz"], quiet=quiet, warn=warn)
    products = [p.strip() for p in opts["products"].split(",") if p.strip()]
    if not products:
        raise datasets.DataError("--products names no product")
    return datasets.ticks_simulated(products=products, seed=opts["seed"], hours=opts["hours"],
                                    quiet=quiet)
