#!/usr/bin/env rwsgi
# The Django project djproj (a folder beside this script), as a drop-in.
from djproj.wsgi import application  # noqa: F401
