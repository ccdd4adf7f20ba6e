"""The exactly-once position includes the log epoch: the unique index is built concurrently,
then swapped in for the old constraint (predictions/migrations/_concurrent.py)."""

from django.db import migrations, models

from predictions.migrations._concurrent import ReplaceUniqueConstraintConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("predictions", "0012_stream_log_epoch"),
    ]

    operations = [
        ReplaceUniqueConstraintConcurrently(
            "prediction",
            old=models.UniqueConstraint(fields=["topic", "partition", "offset", "tick_index"],
                                        name="prediction_unique_position"),
            # Exactly once per position; also the writer's LabelPending select.
            new=models.UniqueConstraint(
                fields=["topic", "partition", "log_epoch", "offset", "tick_index"],
                name="prediction_unique_epoch_position"),
        ),
    ]
