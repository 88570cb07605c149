#!/usr/bin/env rwsgi
# binary.py, copied beside this script, as a drop-in.
from binary import application  # noqa: F401
