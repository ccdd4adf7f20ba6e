"""Every prediction row records the version of the feature definitions it was computed with,
so a backtest never scores rows of another definition (#21).

Safe on a live table: a column with a database default is a catalogue change on PostgreSQL
(11+), no table rewrite and no long lock; existing rows read the empty default ("unknown").
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('predictions', '0009_prediction_outcomes'),
    ]

    operations = [
        migrations.AddField(
            model_name='prediction',
            name='feature_set',
            field=models.CharField(blank=True, db_default='', default='', help_text='Version of the feature definitions the row was computed with (core.features.FEATURE_SET_VERSION); empty for rows older than it.', max_length=16),
        ),
    ]
