"""Bodies made over time, for response streaming.

Paths:
    /slow?n=N&gap=S   N chunks, S seconds apart; each says when it was made
                      ("chunk 0 made at 1764636000.123456\n", time.time()), then a last
                      "done at ..." line
    /error?after=N    N chunks, then ValueError("boom mid-stream")
    /before           raises before start_response
    /empty            200 with an empty body
    /nocontent        204
    /big?mb=N         N MiB of a byte pattern in 64 KiB chunks (byte i is i % 251)
    /endless          64 KiB chunks, 10 ms apart, until the server stops asking
    /cookies          a short body with two cookies and a repeated header
    /thread           the id of the thread the app runs on
Every result's close() writes "streaming app closed: PATH" to wsgi.errors (the log).
"""

import threading
import time
from urllib.parse import parse_qs

BLOCK = 64 * 1024
PATTERN = bytes(i % 251 for i in range(251 * 1024))


class Body:
    def __init__(self, chunks, errors, path):
        self._chunks = chunks
        self._errors = errors
        self._path = path

    def __iter__(self):
        return iter(self._chunks)

    def close(self):
        self._errors.write("streaming app closed: %s\n" % self._path)
        self._errors.flush()


def slow(count, gap):
    for i in range(count):
        if i:
            time.sleep(gap)
        yield b"chunk %d made at %.6f\n" % (i, time.time())
    time.sleep(gap)
    yield b"done at %.6f\n" % time.time()


def failing(after):
    for i in range(after):
        yield b"part %d\n" % i
    raise ValueError("boom mid-stream")


def big(size):
    sent = 0
    offset = 0
    while sent < size:
        n = min(BLOCK, size - sent)
        # Byte i of the body is i % 251; PATTERN repeats with that period.
        start = offset % 251
        yield PATTERN[start:start + n]
        sent += n
        offset += n


def endless():
    while True:
        yield b"x" * BLOCK
        time.sleep(0.01)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    arg = lambda name, default: query.get(name, [default])[0]
    errors = environ["wsgi.errors"]
    if path == "/before":
        raise RuntimeError("boom before the response")
    if path == "/nocontent":
        start_response("204 No Content", [])
        return Body([], errors, path)
    if path == "/empty":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body([], errors, path)
    if path == "/thread":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body([b"%d" % threading.get_ident()], errors, path)
    if path == "/cookies":
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Vary", "Accept"),
                ("Vary", "Cookie"),
                ("Set-Cookie", "a=1; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
                ("Set-Cookie", "b=2; HttpOnly"),
            ],
        )
        return Body([b"with cookies\n"], errors, path)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    if path == "/slow":
        chunks = slow(int(arg("n", "3")), float(arg("gap", "0.3")))
    elif path == "/error":
        chunks = failing(int(arg("after", "2")))
    elif path == "/big":
        chunks = big(int(arg("mb", "1")) * 1024 * 1024)
    elif path == "/endless":
        chunks = endless()
    else:
        chunks = [b"streaming app\n"]
    return Body(chunks, errors, path)
