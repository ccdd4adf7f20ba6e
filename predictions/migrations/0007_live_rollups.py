# Live-performance rollups (new, empty tables: instant on a live database). Filled by label
# maturing from now on; `manage.py live_rollups_rebuild` fills them from rows matured before.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('predictions', '0006_merge_20261202_0812'),
    ]

    operations = [
        migrations.CreateModel(
            name='LiveDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('product_id', models.CharField(max_length=32)),
                ('variant', models.CharField(choices=[('ml', 'ML model'), ('baseline', 'Baseline rule (rollback)')], max_length=16)),
                ('rows', models.PositiveIntegerField(default=0, help_text='Matured rows with a label.')),
                ('positives', models.PositiveIntegerField(default=0, help_text='… of them spikes.')),
                ('flagged', models.PositiveIntegerField(default=0, help_text='Score ≥ its threshold.')),
                ('flagged_positives', models.PositiveIntegerField(default=0, help_text='… and a spike.')),
                ('brier_sum', models.FloatField(default=0.0, help_text='Σ (score − label)².')),
                ('buckets', models.BinaryField(default=b'', help_text='Rows per score bucket and label: score_buckets.pack.')),
                ('day', models.DateTimeField()),
            ],
            options={
                'ordering': ['-day'],
            },
        ),
        migrations.CreateModel(
            name='LiveHour',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('product_id', models.CharField(max_length=32)),
                ('variant', models.CharField(choices=[('ml', 'ML model'), ('baseline', 'Baseline rule (rollback)')], max_length=16)),
                ('rows', models.PositiveIntegerField(default=0, help_text='Matured rows with a label.')),
                ('positives', models.PositiveIntegerField(default=0, help_text='… of them spikes.')),
                ('flagged', models.PositiveIntegerField(default=0, help_text='Score ≥ its threshold.')),
                ('flagged_positives', models.PositiveIntegerField(default=0, help_text='… and a spike.')),
                ('brier_sum', models.FloatField(default=0.0, help_text='Σ (score − label)².')),
                ('buckets', models.BinaryField(default=b'', help_text='Rows per score bucket and label: score_buckets.pack.')),
                ('hour', models.DateTimeField()),
            ],
            options={
                'ordering': ['-hour'],
            },
        ),
        migrations.CreateModel(
            name='LiveMinute',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('product_id', models.CharField(max_length=32)),
                ('variant', models.CharField(choices=[('ml', 'ML model'), ('baseline', 'Baseline rule (rollback)')], max_length=16)),
                ('rows', models.PositiveIntegerField(default=0, help_text='Matured rows with a label.')),
                ('positives', models.PositiveIntegerField(default=0, help_text='… of them spikes.')),
                ('flagged', models.PositiveIntegerField(default=0, help_text='Score ≥ its threshold.')),
                ('flagged_positives', models.PositiveIntegerField(default=0, help_text='… and a spike.')),
                ('brier_sum', models.FloatField(default=0.0, help_text='Σ (score − label)².')),
                ('buckets', models.BinaryField(default=b'', help_text='Rows per score bucket and label: score_buckets.pack.')),
                ('minute', models.DateTimeField()),
            ],
            options={
                'ordering': ['-minute'],
            },
        ),
        migrations.AddField(
            model_name='liveday',
            name='model_version',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='predictions.modelversion'),
        ),
        migrations.AddField(
            model_name='livehour',
            name='model_version',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='predictions.modelversion'),
        ),
        migrations.AddField(
            model_name='liveminute',
            name='model_version',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='predictions.modelversion'),
        ),
        migrations.AddConstraint(
            model_name='liveday',
            constraint=models.UniqueConstraint(fields=('day', 'product_id', 'model_version', 'variant'), name='liveday_unique'),
        ),
        migrations.AddConstraint(
            model_name='livehour',
            constraint=models.UniqueConstraint(fields=('hour', 'product_id', 'model_version', 'variant'), name='livehour_unique'),
        ),
        migrations.AddConstraint(
            model_name='liveminute',
            constraint=models.UniqueConstraint(fields=('minute', 'product_id', 'model_version', 'variant'), name='liveminute_unique'),
        ),
    ]
