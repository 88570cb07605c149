"""Misbehaves in the way the query's `do` names, to see what the server does when an app breaks
in ways tests/apps/raising.py and tests/apps/protocol.py do not cover. Without `do` (or with an
unknown value) it answers `200 OK` with "ok\n".

    sys_exit          sys.exit() before start_response
    sys_exit_3        sys.exit(3) before start_response
    sys_exit_mid      sys.exit(4) from the body iterable, after a first chunk went out
    os_exit           os._exit(7): the process ends at once, without unwinding
    keyboard          raises KeyboardInterrupt before start_response
    raises            raises RuntimeError before start_response
    raises_mid        the body iterable raises RuntimeError after a first chunk
    returns_int       returns 42
    returns_dict      returns {"a": 1} (iterable, but its items are str keys)
    returns_none      returns None
    returns_str       returns "hello" (iterable, but its items are str)
    returns_ints      a generator of int items (what iterating a bytes object gives)
    no_start_response returns a body (with a close()) without calling start_response
    bad_status        start_response("OK", ...)
    status_int        start_response(200, ...)
    status_lf         a status with a bare LF and a second status line after it
    header_cr         a header value with a bare CR
    header_name_crlf  a header name carrying CRLF and another header
    header_bytes      a header given as bytes
    forever           streams `chunk` bytes (default 1024) for ever, with no pause
    huge              streams `n` chunks of `chunk` bytes (defaults 1024 of 1 MiB: 1 GiB)
    stream            a good body of `n` chunks (default 3): "chunk 1\n", "chunk 2\n", ...
    created           a good `201 Created` with the body "created\n"
    digest            reads the whole body; answers "<length> <adler32>\n" (zlib's Adler-32,
                      which a test computes in a few lines)

Every body that has a close() (the result of `no_start_response`, of the good answers, and the
generators) writes `closed:<do>` to wsgi.errors when it is closed, so a test can see that the
server called it.
"""

import os
import sys
import zlib
from urllib.parse import parse_qs

GOOD = [("Content-Type", "text/plain")]


class Body:
    """A list of chunks whose `close()` reports itself."""

    def __init__(self, do, errors, chunks):
        self.do = do
        self.errors = errors
        self.chunks = list(chunks)

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        self.errors.write("closed:%s\n" % self.do)
        self.errors.flush()


def _then_fail(do, errors, failure):
    try:
        yield b"first\n"
        failure()
    finally:
        errors.write("closed:%s\n" % do)
        errors.flush()


def _exit_4():
    sys.exit(4)


def _raise_mid():
    raise RuntimeError("raised mid-stream")


def _forever(size):
    chunk = b"x" * size
    while True:
        yield chunk


def _chunks(count, size):
    chunk = b"x" * size
    for _ in range(count):
        yield chunk


def _int_items():
    yield from b"ab"


def _read_all(stream):
    parts = []
    while True:
        part = stream.read(64 * 1024)
        if not part:
            return b"".join(parts)
        parts.append(part)


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    do = query.get("do", [""])[0]
    errors = environ["wsgi.errors"]

    if do == "sys_exit":
        sys.exit()
    if do == "sys_exit_3":
        sys.exit(3)
    if do == "os_exit":
        errors.write("about to os._exit\n")
        errors.flush()
        os._exit(7)
    if do == "keyboard":
        raise KeyboardInterrupt("raised by the app")
    if do == "raises":
        raise RuntimeError("raised before start_response")
    if do == "sys_exit_mid":
        start_response("200 OK", GOOD)
        return _then_fail(do, errors, _exit_4)
    if do == "raises_mid":
        start_response("200 OK", GOOD)
        return _then_fail(do, errors, _raise_mid)
    if do == "returns_int":
        start_response("200 OK", GOOD)
        return 42
    if do == "returns_dict":
        start_response("200 OK", GOOD)
        return {"a": 1}
    if do == "returns_none":
        start_response("200 OK", GOOD)
        return None
    if do == "returns_str":
        start_response("200 OK", GOOD)
        return "hello"
    if do == "returns_ints":
        start_response("200 OK", GOOD)
        return _int_items()
    if do == "no_start_response":
        return Body(do, errors, [b"body without start_response\n"])
    if do == "forever":
        size = int(query.get("chunk", ["1024"])[0])
        start_response("200 OK", GOOD)
        return _forever(size)
    if do == "huge":
        count = int(query.get("n", ["1024"])[0])
        size = int(query.get("chunk", [str(1 << 20)])[0])
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _chunks(count, size)
    if do == "stream":
        count = int(query.get("n", ["3"])[0])
        start_response("200 OK", GOOD)
        return Body(do, errors, [b"chunk %d\n" % (i + 1) for i in range(count)])
    if do == "created":
        start_response("201 Created", GOOD)
        return Body(do, errors, [b"created\n"])
    if do == "digest":
        data = _read_all(environ["wsgi.input"])
        start_response("200 OK", GOOD)
        answer = "%d %d\n" % (len(data), zlib.adler32(data))
        return Body(do, errors, [answer.encode("ascii")])

    if do == "bad_status":
        start_response("OK", GOOD)
    elif do == "status_int":
        start_response(200, GOOD)
    elif do == "status_lf":
        start_response("200 OK\nStatus: 302 Found", GOOD)
    elif do == "header_cr":
        start_response("200 OK", GOOD + [("X-Note", "a\rSet-Cookie: x=1")])
    elif do == "header_name_crlf":
        start_response("200 OK", GOOD + [("X-A\r\nSet-Cookie", "x=1")])
    elif do == "header_bytes":
        start_response("200 OK", GOOD + [(b"X-Bytes", b"1")])
    else:
        start_response("200 OK", GOOD)
    return Body(do, errors, [b"ok\n"])
