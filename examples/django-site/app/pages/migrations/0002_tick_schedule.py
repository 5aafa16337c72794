"""The periodic task, registered for django_celery_beat's DatabaseScheduler: every 2 seconds."""
from django.db import migrations


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=2, period="seconds")
    PeriodicTask.objects.update_or_create(name="tick every 2 s", defaults={"task": "pages.tasks.tick", "interval": every, "enabled": True})


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name="tick every 2 s").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("pages", "0001_initial"),
        # Its latest migration: the models used below have all their columns.
        ("django_celery_beat", "__latest__"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
