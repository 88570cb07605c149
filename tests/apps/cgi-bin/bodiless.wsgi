#!/usr/bin/env rwsgi
# bodiless.py, copied beside this script, as a drop-in.
from bodiless import application  # noqa: F401
