"""Example application run by the cdktf-webstack example clusters.

A plain WSGI app (``webstack_example.wsgi:application``) plus a Celery app
(``webstack_example.tasks:app``).  Every backend is optional: the endpoint that
needs a missing piece answers 503 with a JSON error, so the same image works
for any subset of the stack the library renders.
"""

__version__ = "0.1.0"
