"""Big request and response bodies, as an ordinary app handles them.

POST: reads the whole body (as Flask's `request.get_data()` would) and answers its length.
GET /?size=N: answers N bytes of binary data (`application/octet-stream`), built for the
request. Either way the app itself holds one copy of the body, which the benchmark's "peak
multiple" (peak memory over the body's size) therefore includes.
"""

from urllib.parse import parse_qs

_BLOCK = bytes(range(256))


def application(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        reply = b"%d\n" % len(body)
        content_type = "text/plain"
    else:
        size = int(parse_qs(environ.get("QUERY_STRING", "")).get("size", ["0"])[0])
        # One allocation of exactly `size` bytes (concatenating an empty tail copies nothing).
        reply = _BLOCK * (size // 256) + _BLOCK[: size % 256]
        content_type = "application/octet-stream"
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(reply)))])
    return [reply]


_apig = None


def apig_handler(event, context):
    global _apig
    if _apig is None:
        import apig_wsgi

        _apig = apig_wsgi.make_lambda_handler(application)
    return _apig(event, context)


def sls_handler(event, context):
    import serverless_wsgi

    return serverless_wsgi.handle_request(application, event, context)
