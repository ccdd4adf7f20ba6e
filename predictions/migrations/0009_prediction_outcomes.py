"""Outcomes leave the prediction row: label maturing appends a narrow PredictionOutcome row
instead of updating the wide prediction row, and the stream writer registers every new row
in LabelPending (docs/performance.md).

On a live database: the copy holds a SHARE lock on the prediction table, so the consumer's
inserts wait (and, past DATABASE_LOCK_TIMEOUT_MS, fail and are retried by the run) while it
copies; bench/volume.py times it on 26 M rows. Stop beat, the workers and the stream worker
for it if you prefer nothing to wait. Dropping the columns afterwards is instant.
"""

import django.db.models.deletion
from django.db import migrations, models


PREDICTIONS = "predictions_prediction"


def copy_outcomes(apps, schema_editor):
    """Decided rows' outcomes into PredictionOutcome, undecided rows into LabelPending."""
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute("SET LOCAL statement_timeout = 0")
            cursor.execute(f"LOCK TABLE {PREDICTIONS} IN SHARE MODE")
        cursor.execute(f"INSERT INTO predictions_predictionoutcome (prediction_id, "
                       f"realized_label, forward_rv, matured_at) SELECT id, realized_label, "
                       f"forward_rv, matured_at FROM {PREDICTIONS} WHERE matured_at IS NOT NULL")
        cursor.execute(f"INSERT INTO predictions_labelpending (prediction_id, product_id, "
                       f"event_ts) SELECT id, product_id, event_ts FROM {PREDICTIONS} "
                       f"WHERE matured_at IS NULL")


def copy_outcomes_back(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"UPDATE {PREDICTIONS} SET realized_label = o.realized_label, "
                       f"forward_rv = o.forward_rv, matured_at = o.matured_at FROM "
                       f"predictions_predictionoutcome AS o WHERE o.prediction_id = "
                       f"{PREDICTIONS}.id")


class Migration(migrations.Migration):

    dependencies = [
        ('predictions', '0008_prediction_time_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='LabelPending',
            fields=[
                ('prediction', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='+', serialize=False, to='predictions.prediction')),
                ('product_id', models.CharField(max_length=32)),
                ('event_ts', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='PredictionOutcome',
            fields=[
                ('prediction', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='outcome', serialize=False, to='predictions.prediction')),
                ('realized_label', models.BooleanField(blank=True, help_text='Forward realized vol ≥ the label threshold; empty if unobservable (a gap).', null=True)),
                ('forward_rv', models.FloatField(blank=True, help_text='Realized vol of log mid returns over (t, t+H].', null=True)),
                ('matured_at', models.DateTimeField(help_text='When the outcome was decided.')),
            ],
        ),
        migrations.RunPython(copy_outcomes, copy_outcomes_back, elidable=False),
        migrations.RemoveIndex(
            model_name='prediction',
            name='prediction_unmatured',
        ),
        migrations.RemoveField(
            model_name='prediction',
            name='forward_rv',
        ),
        migrations.RemoveField(
            model_name='prediction',
            name='matured_at',
        ),
        migrations.RemoveField(
            model_name='prediction',
            name='realized_label',
        ),
        migrations.AddIndex(
            model_name='labelpending',
            index=models.Index(fields=['product_id', 'event_ts'], name='labelpending_product_time'),
        ),
    ]
