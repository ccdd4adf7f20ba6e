"""Log epochs (issue #19): a broker that lost its log hands out offsets again, so a stream
position becomes (topic, partition, log_epoch, offset). Adding `log_epoch` with a database
default is metadata-only on PostgreSQL 11+ (no rewrite of the 26 M-row table); the unique
constraint moves over concurrently in 0011."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("predictions", "0011_backtest"),
    ]

    operations = [
        migrations.CreateModel(
            name="StreamOffsetReset",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("at", models.DateTimeField(auto_now_add=True)),
                ("topic", models.CharField(max_length=200)),
                ("partition", models.IntegerField()),
                ("reason", models.CharField(help_text="ahead_of_log_end or behind_log_start",
                                            max_length=32)),
                ("stored_offset", models.BigIntegerField()),
                ("log_start", models.BigIntegerField()),
                ("log_end", models.BigIntegerField()),
                ("reset_to", models.BigIntegerField()),
                ("epoch", models.IntegerField(help_text="The new log epoch.")),
                ("holder", models.CharField(blank=True, max_length=100)),
            ],
            options={"ordering": ["-at", "-id"]},
        ),
        migrations.AddField(
            model_name="prediction",
            name="log_epoch",
            field=models.IntegerField(db_default=0),
        ),
        migrations.AddField(
            model_name="streamoffset",
            name="epoch",
            field=models.IntegerField(default=0, help_text="Log epoch: +1 at every offset reset "
                                      "(the broker lost or truncated its log)."),
        ),
    ]
