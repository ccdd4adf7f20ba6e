"""`manage.py evaluate`: score a model version and the baseline on new data, same labelling."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from predictions.core import datasets
from predictions.core.scorers import ArtifactError, load_model
from predictions.core.training import NotEnoughData, evaluate_model
from predictions.management.commands.train import load_ticks
from predictions.models import ModelVersion, ServiceConfig


class Command(BaseCommand):
    help = ("Evaluate a model version's ML model beside its baseline on captured files (or "
            "fresh simulated history), with the version's own horizon and spike threshold.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--data", nargs="+", metavar="PATH")
        parser.add_argument("--tz", default=None)
        parser.add_argument("--model-version", default="active",
                            help="a version id or name, or 'active' (the promoted one)")
        parser.add_argument("--hours", type=float, default=2.0,
                            help="hours of simulated history (without --data)")
        parser.add_argument("--seed", type=int, default=1001,
                            help="simulator seed (without --data); differs from training's")
        parser.add_argument("--products", default="BTC-USD,ETH-USD")
        parser.add_argument("--json-out", default=None)

    def handle(self, *args, **opts) -> None:
        version = find_version(opts["model_version"])
        quiet = opts["verbosity"] < 1
        try:
            model = load_model(bytes(version.artifact), version.sha256)
        except ArtifactError as exc:
            raise CommandError(f"model version {version}: {exc}") from None
        try:
            ticks, source = load_ticks(opts, quiet, warn=lambda m: self.stderr.write(m))
            frame = datasets.features(ticks, windows=settings.FEATURE_WINDOWS_SECONDS,
                                      gap_s=settings.FEATURE_GAP_SECONDS, quiet=quiet)
            if frame.names != list(version.feature_names):
                raise CommandError(f"{version} was trained on other features; retrain it")
            metrics = evaluate_model(frame, model=model, ml_threshold=version.threshold,
                                     baseline_params=version.baseline_params,
                                     label_threshold=version.label_threshold,
                                     horizon_s=version.horizon_s,
                                     gap_s=settings.FEATURE_GAP_SECONDS)
        except (datasets.DataError, NotEnoughData) as exc:
            raise CommandError(str(exc)) from None
        ml, base = metrics["ml"], metrics["baseline"]
        self.stdout.write(
            f"{version} on {source}: {metrics['n_rows']} rows, prevalence "
            f"{metrics['prevalence']:.3f}; raw rv_60s ranking PR-AUC "
            f"{_f(metrics['rv_60s_pr_auc'])}\n"
            f"  ml       PR-AUC {_f(ml['pr_auc'])}  ROC-AUC {_f(ml['roc_auc'])}  Brier "
            f"{ml['brier']:.4f}  precision {ml['precision']:.3f}  recall {ml['recall']:.3f}\n"
            f"  baseline PR-AUC {_f(base['pr_auc'])}  ROC-AUC {_f(base['roc_auc'])}  Brier "
            f"{base['brier']:.4f}  precision {base['precision']:.3f}  recall {base['recall']:.3f}"
        )
        if opts["json_out"]:
            with open(opts["json_out"], "w") as fh:
                json.dump({"model_version": version.name, "data": source, **metrics}, fh,
                          indent=2)


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def find_version(ref: str) -> ModelVersion:
    if ref == "active":
        version = ServiceConfig.load().active_model_version
        if version is None:
            raise CommandError("no model version is promoted; pass --model-version ID")
        return version
    query = ModelVersion.objects.filter(pk=int(ref)) if ref.isdigit() else \
        ModelVersion.objects.filter(name=ref)
    version = query.first()
    if version is None:
        raise CommandError(f"no model version {ref!r}")
    return version
