import logging

from django.http import HttpResponse, JsonResponse
from django.templatetags.static import static

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
