"""One app that is each of the other test apps in turn, chosen by the first segment of the
path, so that one Lambda function (one rwsgi process) can be asked for every behaviour:

    /echo/...      echo.py
    /raising?...   raising.py
    /protocol?...  protocol.py
    /binary?...    binary.py
    /cookies       cookies.py
    /stream?...    stream.py
    /status?...    status.py
    /context?...   lambda_context.py

Anything else is a 404 with the text body "no route\n".
"""

import binary
import cookies
import echo
import lambda_context
import protocol
import raising
import status
import stream

ROUTES = {
    "echo": echo.application,
    "raising": raising.application,
    "protocol": protocol.application,
    "binary": binary.application,
    "cookies": cookies.application,
    "stream": stream.application,
    "status": status.application,
    "context": lambda_context.application,
}


def application(environ, start_response):
    first = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0]
    app = ROUTES.get(first)
    if app is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no route\n"]
    return app(environ, start_response)
