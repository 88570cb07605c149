#!/usr/bin/env rwsgi
# echo.py, copied beside this script, as a drop-in.
from echo import application  # noqa: F401
