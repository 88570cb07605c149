#!/usr/bin/env rwsgi
# protocol.py, copied beside this script, as a drop-in.
from protocol import application  # noqa: F401
