"""Writes to standard output in three ways while answering: `print()`, `sys.stdout.write()`
and a child process (`echo`) that inherits file descriptor 1. Under CGI, stdout is the
response (RFC 3875 section 6), so none of this may reach it; it belongs in the error log.

The body is the constant "quiet body\n".
"""

import subprocess
import sys


def application(environ, start_response):
    print("noisy: print")
    sys.stdout.write("noisy: sys.stdout.write\n")
    subprocess.run(["echo", "noisy: subprocess"], check=True)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"quiet body\n"]
