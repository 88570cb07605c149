"""The example app of the Lambda starter, also what the README's first command runs.

A plain WSGI application with no dependencies, so it runs anywhere rwsgi does. Replace it with
your own app (Flask, Django, ...) and point RWSGI_APP / the function's Handler at it.
"""

import json
from urllib.parse import parse_qs


def application(environ, start_response):
    path = environ.get("PATH_INFO", "") or "/"
    method = environ["REQUEST_METHOD"]

    if path == "/" and method in ("GET", "HEAD"):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        name = query.get("name", ["world"])[0]
        return _text(start_response, f"Hello, {name}!\n")

    if path == "/echo" and method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        reply = {
            "method": method,
            "path": environ.get("SCRIPT_NAME", "") + path,
            "content_type": environ.get("CONTENT_TYPE", ""),
            "length": len(body),
            "body": body.decode("utf-8", "replace"),
        }
        return _json(start_response, "200 OK", reply)

    if path == "/environ":
        shown = {k: v for k, v in environ.items() if isinstance(v, str)}
        return _json(start_response, "200 OK", shown)

    return _json(start_response, "404 Not Found", {"error": f"no route for {method} {path}"})


def _text(start_response, text):
    data = text.encode("utf-8")
    start_response(
        "200 OK",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _json(start_response, status, obj):
    data = json.dumps(obj, indent=2, sort_keys=True).encode("utf-8") + b"\n"
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]
