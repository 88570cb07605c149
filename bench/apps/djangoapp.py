"""A small Django app in one module: `application` for rwsgi, and the same app behind apig-wsgi
for AWS's Python runtime client (awslambdaric). Settings as a small project's: the auth and
contenttypes apps, the usual middleware, no database queries."""

import django
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only-not-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
    DATABASES={},
    USE_TZ=True,
)
django.setup()


def index(request):
    return HttpResponse("Hello, world!\n", content_type="text/plain; charset=utf-8")


def item(request, item_id):
    return JsonResponse({"id": item_id, "q": request.GET.getlist("q")})


urlpatterns = [path("", index), path("items/<int:item_id>", item)]

from django.core.wsgi import get_wsgi_application  # noqa: E402 (after settings, as Django needs)

application = get_wsgi_application()

_apig = None


def apig_handler(event, context):
    global _apig
    if _apig is None:
        import apig_wsgi

        _apig = apig_wsgi.make_lambda_handler(application)
    return _apig(event, context)
