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
    # With an unreachable broker kombu keeps retrying the connection for
    # about 6 s before publish fails; two quick attempts are enough for a web
    # request to answer 503.  (The worker's own reconnect loop is governed by
    # broker_connection_max_retries and is not affected.)
    broker_connection_timeout=3,
    broker_transport_options={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
)


@app.task
def add(x, y):
    return x + y
