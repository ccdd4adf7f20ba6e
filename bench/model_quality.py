"""Model quality on real BTC-USD ticks: walk forward over the captured sessions.

Reads ../shared/data/real-ticks/btc-usd-2025-11-to-12.ndjson.gz (or $VOLSITE_REAL_TICKS) when
it is there and skips with a message when it is not: the data is third-party and never in the
repository. Runs training's own procedure (sessions, purged expanding walk-forward, thresholds
fitted on each fold's train rows) and prints, per fold and pooled, prevalence, PR-AUC and
Brier of the ML variant, the baseline variant, the raw rv_60s ranking and a z-score rule
(rv_60s against its own trailing 5-minute mean and deviation); then each feature's
walk-forward PR-AUC alone, a thinned-capture check, a calm-to-wild transfer check, expanding
vs recent-only training (what refitting on all rows does), and the training time. Writes the
data of the pictures to docs/img/model_quality_real.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import table
from predictions.core import training as T
from predictions.core.evaluation import by_regime, pr_curve, reliability, scores
from predictions.core.features import batch_features
from predictions.core.labels import spike_labels
from predictions.core.tickfiles import read_ticks

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("VOLSITE_REAL_TICKS", ROOT.parent / "shared/data/real-ticks/"
                           "btc-usd-2025-11-to-12.ndjson.gz"))
OUT = ROOT / "docs/img/model_quality_real.json"
WINDOWS, GAP_S, HORIZON_S, PERCENTILE = [30, 60, 300], 30.0, 60.0, 90.0
TEST_FRACTION = 0.9  # as `manage.py train`'s default
THIN_KEEP, RECENT_ROWS, SEED = 0.6, 20_000, 0


def f3(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def labelled(ticks: list) -> T.Labelled:
    return T.labelled_rows(batch_features(ticks, WINDOWS, GAP_S), HORIZON_S, GAP_S)


def zscore(data: T.Labelled) -> np.ndarray:
    """z of rv_60s against its own trailing 300 s mean and deviation, within each session."""
    rv = data.X[:, data.names.index("rv_60s")]
    z = np.zeros(len(rv))
    for sid in np.unique(data.sessions):
        idx = np.flatnonzero(data.sessions == sid)
        s = pd.Series(rv[idx], index=pd.to_datetime(data.ts[idx], unit="s")).rolling("300s")
        mean, std = s.mean().to_numpy(), s.std().to_numpy()
        z[idx] = np.where(std > 0, (rv[idx] - mean) / np.where(std > 0, std, 1.0), 0.0)
    return z


def walk(data: T.Labelled) -> tuple[list, str, dict, list]:
    """Training's own walk-forward: folds, the chosen candidate, its pooled rows, fold rows."""
    _, folds = T.held_out_split(data, TEST_FRACTION, HORIZON_S)
    candidates = T.walk_forward_all(data, folds, PERCENTILE, SEED, lambda _: None)
    pooled = {n: scores(p["y"], p["ml"], p["ml_t"]) for n, (p, _) in candidates.items()}
    chosen = T.choose(pooled)
    print(table("Candidates walked forward (pooled held-out)", ["candidate", "PR-AUC", "Brier"],
                [[n, f3(s["pr_auc"]), f"{s['brier']:.4f}"] for n, s in pooled.items()]))
    print(f"chosen: {chosen}\n")
    return folds, chosen, *candidates[chosen]


def variant_scores(got: dict, z: np.ndarray) -> dict[str, dict]:
    y = got["y"]
    return {"ml": scores(y, got["ml"], got["ml_t"]),
            "baseline": scores(y, got["baseline"], got["baseline_t"]),
            "rv_60s": scores(y, got["rv"], None), "zscore": scores(y, z[got["row"]], None)}


def fold_table(data: T.Labelled, got: dict, fold_rows: list, z: np.ndarray) -> dict:
    rows, at = [], 0
    for k, f in enumerate(fold_rows, 1):
        part = {key: v[at:at + f["test_rows"]] for key, v in got.items()}
        at += f["test_rows"]
        s = variant_scores(part, z)
        rows.append([k, f"{f['train_rows']}/{f['train_sessions']}",
                     f"{f['test_rows']}/{f['test_sessions']}", f"{f['label_threshold']:.6f}",
                     f"{f['prevalence']:.3f}", *[f3(s[v]["pr_auc"]) for v in s],
                     f"{s['ml']['brier']:.4f}", f"{s['baseline']['brier']:.4f}"])
    pooled = variant_scores(got, z)
    rows.append(["pooled", "", f"{len(got['y'])}/{len(np.unique(data.sessions[got['row']]))}",
                 "", f"{got['y'].mean():.3f}", *[f3(pooled[v]["pr_auc"]) for v in pooled],
                 f"{pooled['ml']['brier']:.4f}", f"{pooled['baseline']['brier']:.4f}"])
    print(table("Walk-forward over the real sessions (held-out; rows/sessions)",
                ["fold", "train", "test", "label thr", "prev", "PR ml", "PR base", "PR rv60",
                 "PR z", "Brier ml", "Brier base"], rows))
    return pooled


def feature_study(data: T.Labelled, folds: list) -> list[list[str]]:
    """Each feature alone: its ranking (sign fitted on each fold's train rows), pooled over
    the folds, and in how many folds the sign on test disagreed with train's."""
    out = []
    for j, name in enumerate(data.names):
        ys, ps, flips = [], [], 0
        for fold in folds:
            c = np.percentile(data.fwd[fold.train], PERCENTILE)
            x_tr, x_te = data.X[fold.train, j], data.X[fold.test, j]
            sign = _sign(x_tr, data.fwd[fold.train])
            flips += _sign(x_te, data.fwd[fold.test]) not in (sign, 0.0)
            ys.append(spike_labels(data.fwd[fold.test], c))
            ps.append(sign * x_te)
        out.append([name, f3(scores(np.concatenate(ys), np.concatenate(ps), None)["pr_auc"]),
                    f"{flips}/{len(folds)}"])
    out.sort(key=lambda r: -float(r[1]) if r[1] != "n/a" else 0.0)
    print(table("Each feature alone, walked forward (pooled PR-AUC; sign flips train→test)",
                ["feature", "PR-AUC", "sign flips"], out))
    return out


def _sign(x: np.ndarray, fwd: np.ndarray) -> float:
    if np.std(x) == 0:
        return 0.0
    return float(np.sign(np.corrcoef(x, np.log(fwd + 1e-6))[0, 1]))


def fit_and_score(train_d: T.Labelled, rows: np.ndarray, test_d: T.Labelled,
                  test_rows: np.ndarray, algorithm: str) -> dict:
    fitted = T.fit_variants(train_d, rows, PERCENTILE, algorithm, SEED)
    got = T._predict(test_d, fitted, test_rows)
    return {k: scores(got["y"], got[k], got[k + "_t"]) for k in ("ml", "baseline")} | {
        "rv_60s": scores(got["y"], got["rv"], None), "prevalence": float(got["y"].mean())}


def stress_rows(title: str, results: list[tuple[str, dict]]) -> None:
    print(table(title, ["case", "prev", "PR ml", "PR base", "PR rv60", "Brier ml",
                        "Brier base"],
                [[name, f"{r['prevalence']:.3f}", f3(r["ml"]["pr_auc"]),
                  f3(r["baseline"]["pr_auc"]), f3(r["rv_60s"]["pr_auc"]),
                  f"{r['ml']['brier']:.4f}", f"{r['baseline']['brier']:.4f}"]
                 for name, r in results]))


def thinned(ticks: list, data: T.Labelled, folds: list, algorithm: str) -> None:
    """Models fitted on the full capture, tested on a capture that missed 40% of messages."""
    rng = np.random.default_rng(SEED)
    thin = labelled([t for t in ticks if rng.random() < THIN_KEEP])
    results = []
    for k, fold in enumerate(folds, 1):
        lo, hi = data.ts[fold.test[0]], data.ts[fold.test[-1]]
        rows_thin = np.flatnonzero((thin.ts >= lo) & (thin.ts <= hi))
        full = fit_and_score(data, fold.train, data, fold.test, algorithm)
        sparse = fit_and_score(data, fold.train, thin, rows_thin, algorithm)
        if full["ml"]["pr_auc"] is not None:
            results += [(f"fold {k} full", full), (f"fold {k} thinned", sparse)]
    stress_rows(f"Thinned capture (keep {THIN_KEEP:.0%} of ticks), folds with spikes", results)
    shift = [[name, f"{_median_shift(data, thin, name):+.3f}"] for name in data.names]
    print(table("Feature shift under thinning (median, log ratio; log_vol: difference)",
                ["feature", "shift"], shift))


def _median_shift(full: T.Labelled, thin: T.Labelled, name: str) -> float:
    a = np.median(full.X[:, full.names.index(name)])
    b = np.median(thin.X[:, thin.names.index(name)])
    if name.startswith("log_vol_"):
        return float(b - a)
    return float(np.log(b / a)) if a > 0 and b > 0 else float("nan")


def transfer(data: T.Labelled, algorithm: str) -> None:
    """Extrapolation check (reverse time, not a walk-forward): fit on the later, calmer half
    of the rows, test on the earlier, wilder half — a wilder market than train ever saw."""
    half = len(data.ts) // 2
    test = np.arange(half)
    train = np.arange(half, len(data.ts))
    train = train[data.ts[train] >= data.ts[half - 1] + HORIZON_S]
    stress_rows("Calm → wild transfer (fit on the later half, test on the earlier half)",
                [("later → earlier", fit_and_score(data, train, data, test, algorithm))])


def recent_only(data: T.Labelled, folds: list, algorithm: str) -> None:
    """What using all rows does: expanding window (as the refit) vs the last RECENT_ROWS."""
    results = []
    for k, fold in enumerate(folds, 1):
        recent = fold.train[-RECENT_ROWS:]
        results += [(f"fold {k} all history", fit_and_score(data, fold.train, data, fold.test,
                                                             algorithm)),
                    (f"fold {k} recent {RECENT_ROWS}", fit_and_score(data, recent, data,
                                                                    fold.test, algorithm))]
    stress_rows("Expanding (all earlier rows) vs recent-only training", results)


def pictures(got: dict, z: np.ndarray) -> dict:
    y = got["y"]
    ranked = {"ml": got["ml"], "baseline": got["baseline"], "rv_60s": got["rv"],
              "zscore": z[got["row"]]}
    return {"prevalence": float(y.mean()), "rows": int(len(y)),
            "pr_curves": {k: pr_curve(y, p) for k, p in ranked.items()},
            "reliability": {k: reliability(y, got[k]) for k in ("ml", "baseline")},
            "reliability_by_regime": _by_regime(y, got)}


def _by_regime(y: np.ndarray, got: dict) -> dict:
    """{regime: {variant: bins}}, as a model version's metrics carry it."""
    per = {k: by_regime(y, got[k], got["regime"]) for k in ("ml", "baseline")}
    return {r: {k: per[k][r]["bins"] for k in per if r in per[k]}
            for r in ("calm", "normal", "volatile") if any(r in per[k] for k in per)}


def main() -> None:
    if not DATA.exists():
        print(f"model_quality: skipped, the real ticks are not at {DATA} "
              "(third-party data, never in the repository; set VOLSITE_REAL_TICKS)")
        return
    ticks = read_ticks([str(DATA)]).ticks
    data = labelled(ticks)
    print(f"{DATA.name}: {len(ticks)} ticks, {len(data.ts)} labelled rows in "
          f"{len(np.unique(data.sessions))} sessions (gap > {GAP_S:g} s)\n")
    started = time.perf_counter()
    T.train(batch_features(ticks, WINDOWS, GAP_S), horizon_s=HORIZON_S, percentile=PERCENTILE,
            test_fraction=TEST_FRACTION, gap_s=GAP_S, seed=SEED)
    train_s = time.perf_counter() - started
    folds, chosen, got, fold_rows = walk(data)
    z = zscore(data)
    pooled = fold_table(data, got, fold_rows, z)
    print()
    feature_study(data, folds)
    print()
    thinned(ticks, data, folds, chosen)
    print()
    transfer(data, chosen)
    print()
    recent_only(data, folds, chosen)
    print(f"\ntraining time (walk-forward of every candidate + refit, features excluded): "
          f"{train_s:.1f} s")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"source": DATA.name, "algorithm": chosen, "pooled": pooled,
                               **pictures(got, z)}, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
