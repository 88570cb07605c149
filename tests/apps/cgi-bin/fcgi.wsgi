#!/usr/bin/env rwsgi
# fcgi_app.py, copied beside this script, as a drop-in: what a long-lived worker does.
from fcgi_app import application  # noqa: F401
