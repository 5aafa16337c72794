from django.urls import path

from pages import views

urlpatterns = [
    path("", views.home),
    path("ping", views.ping),
    path("ticks", views.ticks),
    path("upload/", views.upload),
]
