#!/usr/bin/env rwsgi
# raising.py, copied beside this script, as a drop-in.
from raising import application  # noqa: F401
