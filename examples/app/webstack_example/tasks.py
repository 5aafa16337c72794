"""Celery app and tasks.  Worker: celery -A webstack_example.tasks worker"""

import sys

from celery import Celery

from . import settings

if settings.CELERY_BROKER_URL is None:
    # Celery would silently fall back to amqp://guest@localhost//.  The web
    # side refuses to enqueue in that case (503); a worker just says so.
    print("webstack_example: CELERY_BROKER_URL is not set", file=sys.stderr)

# Creating the app opens no connection, so importing this module in a
# pre-forking master (uWSGI, gunicorn) is safe.
app = Celery(
    "webstack_example",
    broker=settings.CELERY_BROKER_URL,
    backend=settings.CELERY_RESULT_BACKEND,
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    # Give up publishing after ~1 s instead of hanging a web request.
    broker_connection_timeout=3,
    task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
)


@app.task
def add(x, y):
    return x + y
