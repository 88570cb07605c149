"""Error handling with `exc_info` (PEP 3333, "Error Handling" and "The start_response()
Callable").

The default: start_response("200 OK"), then an error, caught, replaces the response through
start_response("503 ...", headers, sys.exc_info()). Nothing was sent yet, so the server must
use the new status and headers.

`after=1`: the app has already sent headers and some bytes through write(); the exc_info call
must then re-raise the error instead of returning. If it ever returns, the app says so on
wsgi.errors and in the body, which the tests look for.

`after=empty_write`: the same, but the only thing written was b"": a write() call sends the
headers even when empty.

`empty_chunk=1`: the body iterable first yields b"" (which does not send the headers), then
replaces the response with exc_info; the 503 must win.
"""

import sys
from urllib.parse import parse_qs

REPLACEMENT_HEADERS = [
    ("Content-Type", "text/plain"),
    ("Retry-After", "30"),
]


def _replace(start_response, environ):
    try:
        raise RuntimeError("backend is down")
    except RuntimeError:
        start_response("503 Service Unavailable", REPLACEMENT_HEADERS, sys.exc_info())
    environ["wsgi.errors"].write("excinfo: start_response returned\n")


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    after = query.get("after", ["0"])[0]
    write = start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "yes")])

    if query.get("empty_chunk", ["0"])[0] == "1":

        def body():
            yield b""
            _replace(start_response, environ)
            yield b"service unavailable\n"

        return body()

    if after == "1":
        write(b"partial ")
    elif after == "empty_write":
        write(b"")
    if after in ("1", "empty_write"):
        _replace(start_response, environ)
        return [b"NOT RE-RAISED\n"]

    _replace(start_response, environ)
    return [b"service unavailable\n"]
