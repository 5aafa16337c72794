import socket

from celery import shared_task

from .models import Tick


@shared_task(name="pages.tasks.tick")
def tick():
    """Scheduled by django_celery_beat's DatabaseScheduler (see migrations/0002_tick_schedule.py)."""
    Tick.objects.create(worker=socket.gethostname())
