from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0005_plan_api_requests_per_minute'),
    ]

    operations = [
        migrations.AddField(
            model_name='plan',
            name='final_backup_on_delete',
            field=models.BooleanField(blank=True, null=True),
        ),
    ]
