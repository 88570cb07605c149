"""Settings of the smallest Django project that exercises the WSGI side of Django: no
database, no templates, no installed apps."""

SECRET_KEY = "rwsgi-tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "example.com"]

INSTALLED_APPS = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "djproj.urls"
DATABASES = {}
USE_TZ = True
APPEND_SLASH = True
