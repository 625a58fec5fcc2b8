from django.db import migrations


def create_meters(apps, schema_editor):
    from tenantry.metering.meters import BUILTIN_METERS

    Meter = apps.get_model("metering", "Meter")
    for code, name, aggregation, unit in BUILTIN_METERS:
        Meter.objects.update_or_create(code=code, defaults={"name": name, "aggregation": aggregation, "unit": unit,
                                                            "internal": True})


class Migration(migrations.Migration):
    dependencies = [("metering", "0001_meters_events_rollups")]

    operations = [migrations.RunPython(create_meters, migrations.RunPython.noop)]
