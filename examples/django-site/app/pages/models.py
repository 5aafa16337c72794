from django.db import models


class Tick(models.Model):
    """One row per run of the periodic task `pages.tasks.tick`."""

    created = models.DateTimeField(auto_now_add=True)
    worker = models.CharField(max_length=200)
