from django.db import migrations


def make_internal(apps, schema_editor):
    # Tenantry records articles itself from the publishing workflow's runs (tenantry/articles):
    # the usage API no longer takes them (an event sent there would count an article twice).
    apps.get_model("metering", "Meter").objects.filter(code="articles").update(internal=True)


def make_reported(apps, schema_editor):
    apps.get_model("metering", "Meter").objects.filter(code="articles").update(internal=False)


class Migration(migrations.Migration):
    dependencies = [("metering", "0004_articles_meter")]

    operations = [migrations.RunPython(make_internal, make_reported)]
