import hashlib
import logging

from django.http import HttpResponse, JsonResponse
from django.templatetags.static import static
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import Tick

log = logging.getLogger("pages")


def home(request):
    # nginx passes the request id HAProxy made (or the client sent); it is returned to the client too.
    request_id = request.META.get("HTTP_X_REQUEST_ID", "-")
    log.info("home request_id=%s host=%s", request_id, request.get_host())
    css = static("pages/site.css")
    return HttpResponse(f'<!doctype html><link rel="stylesheet" href="{css}"><h1>django-site</h1><p>request {request_id}</p>\n')


def ping(request):
    return HttpResponse("pong\n", content_type="text/plain")


def ticks(request):
    return JsonResponse({"count": Tick.objects.count(), "css": static("pages/site.css")})


@csrf_exempt
@require_POST
def upload(request):
    """Reads the body as it streams in (nginx does not buffer this route) and answers what it read.

    request.read() in pieces, not request.body: the body is never held whole in memory, and
    DATA_UPLOAD_MAX_MEMORY_SIZE (which bounds request.body and form data) does not apply.
    """
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = request.read(65536)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    expected = int(request.META.get("CONTENT_LENGTH") or 0)
    if size != expected:
        # The client (or nginx, past the route's pause limit) went away mid-body.
        log.warning("upload cut: read %d of %d bytes", size, expected)
        return JsonResponse({"error": "incomplete body", "bytes": size, "expected": expected}, status=400)
    log.info("upload bytes=%d sha256=%s", size, digest.hexdigest())
    return JsonResponse({"bytes": size, "sha256": digest.hexdigest()})
