"""An app for the curl habits of `rwsgi call`, served the same way by rwsgi and by
wsgiref.simple_server (so that real curl can be run against it for comparison). It answers
only with what the request decides, never with server-specific values.

    /show                     the method, the path and query, the body and the request
                              headers curl-like clients set, as text
    /redirect?code=N&to=URL   status N with Location URL (and a body that must not be shown)
    /chain?n=K                a 302 to /chain?n=K-1, until K is 0: then /show
    /set-cookies              sets cookies of every kind, then redirects to /dir/sub/page
    /dir/sub/page             sets one more cookie and shows the Cookie header
    /gzip, /deflate, /raw-deflate, /br?file=PATH
                              a text (or the file's bytes) with that Content-Encoding
    /big?size=N               N bytes of 'x', in 64 KiB chunks
"""

import zlib
from urllib.parse import parse_qs

TEXT = b"compressed text, " * 50 + b"end\n"

SHOWN = ["HTTP_AUTHORIZATION", "HTTP_USER_AGENT", "HTTP_REFERER", "HTTP_COOKIE",
         "HTTP_ACCEPT_ENCODING", "HTTP_HOST"]


def show(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    lines = ["%s %s%s" % (environ["REQUEST_METHOD"], environ.get("SCRIPT_NAME", ""),
                          environ.get("PATH_INFO", ""))]
    lines.append("query: %s" % environ.get("QUERY_STRING", ""))
    for key in SHOWN:
        if key in environ:
            lines.append("%s: %s" % (key, environ[key]))
    # wsgiref makes up CONTENT_TYPE text/plain when the request has none: that one is not
    # shown, so both servers show the same.
    if environ.get("CONTENT_TYPE", "") not in ("", "text/plain"):
        lines.append("CONTENT_TYPE: %s" % environ["CONTENT_TYPE"])
    lines.append("body: %s" % body.decode("latin-1"))
    return ("\n".join(lines) + "\n").encode("latin-1")


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    plain = [("Content-Type", "text/plain")]
    if path == "/redirect":
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("%s Redirect" % query.get("code", "302"),
                       plain + [("Location", query.get("to", "/show"))])
        return [b"a redirect's body\n"]
    if path == "/chain":
        n = int(query.get("n", "0"))
        to = "/chain?n=%d" % (n - 1) if n > 0 else "/show"
        start_response("302 Found", plain + [("Location", to)])
        return [b"chain %d\n" % n]
    if path == "/set-cookies":
        cookies = [
            "plain=1",
            "scoped=2; Path=/dir; HttpOnly",
            "aged=3; Max-Age=3600",
            "dated=4; Expires=Wed, 21 Oct 2037 07:28:00 GMT",
            "secure=5; Secure",
            "gone=6; Max-Age=0",
            "plain=7",
        ]
        start_response("302 Found", plain + [("Set-Cookie", c) for c in cookies]
                       + [("Location", "/dir/sub/page")])
        return [b"set\n"]
    if path == "/dir/sub/page":
        start_response("200 OK", plain + [("Set-Cookie", "page=8")])
        return [("cookie: %s\n" % environ.get("HTTP_COOKIE", "(none)")).encode("latin-1")]
    if path == "/gzip":
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
        body = c.compress(TEXT) + c.flush()
        start_response("200 OK", plain + [("Content-Encoding", "gzip")])
        return [body[:10], body[10:]]
    if path == "/deflate":
        start_response("200 OK", plain + [("Content-Encoding", "deflate")])
        return [zlib.compress(TEXT)]
    if path == "/raw-deflate":
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        start_response("200 OK", plain + [("Content-Encoding", "deflate")])
        return [c.compress(TEXT) + c.flush()]
    if path == "/br":
        with open(query["file"], "rb") as f:
            body = f.read()
        start_response("200 OK", plain + [("Content-Encoding", "br")])
        return [body]
    if path == "/zstd":
        start_response("200 OK", plain + [("Content-Encoding", "zstd")])
        return [b"\x28\xb5\x2f\xfd"]
    if path == "/big":
        size = int(query.get("size", "0"))

        def chunks():
            left = size
            while left > 0:
                n = min(left, 65536)
                left -= n
                yield b"x" * n
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return chunks()
    start_response("200 OK", plain)
    return [show(environ)]
