"""Label maturing: attach the realized label to predictions whose horizon has passed."""

from __future__ import annotations

from predictions.models import ServiceConfig


def prediction_labels_mature(*, batch_rows: int | None = None) -> int:
    """Attach the realized label and forward volatility to predictions whose horizon passed.

    Steps, per product with undecided rows:
    1. take the promoted model version's horizon and label threshold (nothing without one);
    2. read the product's rows from its oldest undecided one on, in time order (bounded by
       LABEL_MATURE_BATCH_ROWS; the next run continues where this one stopped);
    3. compute forward realized vol from their mids, as training does (labels.live_forward_rv);
    4. write label, forward vol and matured_at for every decided row — a row whose horizon a
       gap cut off is decided with an empty label — in one bulk update.
    Returns the number of rows decided.
    """
    import numpy as np
    from django.conf import settings
    from django.utils import timezone

    from predictions.core.labels import live_forward_rv
    from predictions.models import Prediction

    version = ServiceConfig.load().active_model_version
    if version is None:
        return 0
    limit = batch_rows or settings.LABEL_MATURE_BATCH_ROWS
    pending = Prediction.objects.filter(matured_at__isnull=True)
    now, decided_total = timezone.now(), 0
    for product_id in pending.values_list("product_id", flat=True).distinct().order_by():
        oldest = (pending.filter(product_id=product_id).order_by("event_ts")
                  .values_list("event_ts", flat=True).first())
        rows = list(Prediction.objects.filter(product_id=product_id, event_ts__gte=oldest)
                    .exclude(mid=None).order_by("event_ts", "partition", "offset", "tick_index")
                    .only("id", "event_ts", "mid", "matured_at")[:limit])
        ts = np.array([r.event_ts.timestamp() for r in rows])
        mid = np.array([r.mid for r in rows])
        fwd, decided = live_forward_rv(ts, mid, version.horizon_s, settings.FEATURE_GAP_SECONDS)
        updated = []
        for row, value, done in zip(rows, fwd, decided):
            if not done or row.matured_at is not None:
                continue
            observed = not np.isnan(value)
            row.forward_rv = float(value) if observed else None
            row.realized_label = bool(value >= version.label_threshold) if observed else None
            row.matured_at = now
            updated.append(row)
        Prediction.objects.bulk_update(updated, ["forward_rv", "realized_label", "matured_at"],
                                       batch_size=1000)
        # Rows written before mids were stored can never mature: close them as unobservable.
        pending.filter(product_id=product_id, mid=None).update(matured_at=now)
        decided_total += len(updated)
    return decided_total
