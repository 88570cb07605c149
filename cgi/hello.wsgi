#!/usr/bin/env rwsgi
"""A WSGI app run as a CGI program by rwsgi.

Copy this file into the server's cgi-bin folder and make it executable (chmod 755). The first
line makes the kernel start `rwsgi` with this file's path; rwsgi loads it and calls
`application` once for the request. Modules beside this file can be imported, and a `.venv`
folder beside it is used as the virtualenv.

Try: /cgi-bin/hello.wsgi/some/path?name=you
"""

import html
import sys
from urllib.parse import parse_qs


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    name = query.get("name", ["world"])[0]
    # PEP 3333 hands the path over as latin-1 text holding the raw bytes; decode it as UTF-8.
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    body = (
        "<!doctype html>\n"
        "<title>Hello from rwsgi</title>\n"
        "<h1>Hello, %s!</h1>\n"
        "<p>Script: <code>%s</code>, path: <code>%s</code>, Python %s.</p>\n"
        % (
            html.escape(name),
            html.escape(environ.get("SCRIPT_NAME", "")),
            html.escape(path or "/"),
            sys.version.split()[0],
        )
    ).encode("utf-8")
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]
