# The newest rows of every product, in time order (admin list, unfiltered history). Built
# concurrently on PostgreSQL, so a live table keeps taking rows meanwhile.

from django.db import migrations, models

from predictions.migrations._concurrent import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("predictions", "0007_live_rollups"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="prediction",
            index=models.Index(fields=["-event_ts", "-id"], name="prediction_time"),
        ),
    ]
