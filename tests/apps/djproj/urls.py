from django.urls import path

from . import views

urlpatterns = [
    path("plain/", views.plain, name="plain"),
    path("form/", views.form),
    path("protected/", views.protected),
    path("upload/", views.upload),
    path("stream/", views.stream),
    path("report/", views.report),
    path("where/", views.where),
    path("café/", views.cafe),
    path("boom/", views.boom),
    path("cookie/", views.cookie),
]
