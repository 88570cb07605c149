"""A WSGI app with an `atexit` handler that writes a line to standard output without a newline
at its end, so it reaches the log only when the output is flushed at exit; and a module-level
line to stderr, so a test can see when the import is over.
"""

import atexit
import sys


def _goodbye():
    sys.stdout.write("atexit: goodbye")


atexit.register(_goodbye)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]
