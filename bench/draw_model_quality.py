"""Draw the model-quality pictures of the real-data evaluation for the docs.

Reads docs/img/model_quality_real.json ({"prevalence": float, "pr_curves": {name: {"recall":
[...], "precision": [...]}}, "reliability": {name: [{"p_mean", "freq", "n"}, ...]}}), which
the evaluation on the real sessions writes, and draws docs/img/pr_curve_real.svg and
docs/img/reliability_real.svg with the service's own chart module, so the docs show the
pictures the admin shows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from predictions.core.charts import pr_curve_svg, reliability_svg

IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=IMG / "model_quality_real.json")
    parser.add_argument("--out", type=Path, default=IMG)
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"{args.data} does not exist yet: it is written by the evaluation on the real "
              "sessions (prevalence, pr_curves, reliability); nothing drawn.", file=sys.stderr)
        return 1
    try:
        data = json.loads(args.data.read_text())
        curves, bins = data["pr_curves"], data["reliability"]
    except (ValueError, KeyError, TypeError) as exc:
        print(f"{args.data}: not model-quality data ({exc!r}); nothing drawn.", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    pr_path, rel_path = args.out / "pr_curve_real.svg", args.out / "reliability_real.svg"
    pr_path.write_text(pr_curve_svg(curves, data.get("prevalence"),
                                    "PR curve on the real BTC-USD sessions") + "\n")
    rel_path.write_text(reliability_svg(bins, "Reliability on the real BTC-USD sessions") + "\n")
    print(f"wrote {pr_path} and {rel_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
