from django.db import migrations


def create_meters(apps, schema_editor):
    from tenantry.metering.meters import REPORTED_METERS

    Meter = apps.get_model("metering", "Meter")
    for code, name, aggregation, unit in REPORTED_METERS:
        # Not internal: the SEO pipeline sends these events through the usage API.
        Meter.objects.get_or_create(code=code, defaults={"name": name, "aggregation": aggregation, "unit": unit,
                                                         "internal": False})


class Migration(migrations.Migration):
    dependencies = [("metering", "0003_quotaenforcement")]

    operations = [migrations.RunPython(create_meters, migrations.RunPython.noop)]
