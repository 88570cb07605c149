"""Writes the body through the `write()` callable that start_response returns (PEP 3333,
"The write() Callable").

Query `mode`:
    write_only   write() three times, then return an empty list (the default)
    mixed        write() twice, then return an iterable with two more chunks; the output
                 must keep that order
"""

from urllib.parse import parse_qs


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    mode = query.get("mode", ["write_only"])[0]
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    if mode == "write_only":
        write(b"one\n")
        write(b"two\n")
        write(b"three\n")
        return []
    if mode == "mixed":
        write(b"written 1\n")
        write(b"written 2\n")
        return [b"returned 1\n", b"returned 2\n"]
    raise ValueError("unknown mode: %r" % mode)
