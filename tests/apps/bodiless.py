"""Answers with the status the query's `code` names (default 200) and the body "hello\n",
returned the way `as` says: `list` (the default), `gen` (a generator), `write` (the write()
callable) or `empty` (an empty list). Each `cl` in the query adds a Content-Length header with
that value, each `h` (`Name:value`, the value kept exactly, spaces included) adds a header, and
`raise=1` raises before start_response.

The result's close() writes "closed after N chunks" to wsgi.errors, so a test can see that the
body was iterated and closed even when it was not sent."""

from urllib.parse import parse_qs


class Body:
    def __init__(self, chunks, errors):
        self.chunks = chunks
        self.errors = errors
        self.taken = 0

    def __iter__(self):
        for chunk in self.chunks:
            self.taken += 1
            yield chunk

    def close(self):
        self.errors.write("closed after %d chunks\n" % self.taken)
        self.errors.flush()


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if query.get("raise"):
        raise RuntimeError("bodiless was asked to raise")
    code = int(query.get("code", ["200"])[0])
    shape = query.get("as", ["list"])[0]
    headers = [("Content-Type", "text/plain")]
    headers += [("Content-Length", value) for value in query.get("cl", [])]
    headers += [tuple(h.split(":", 1)) for h in query.get("h", [])]
    write = start_response("%d Whatever" % code, headers)
    errors = environ["wsgi.errors"]
    if shape == "write":
        write(b"hello\n")
        return Body([], errors)
    if shape == "gen":
        return Body([b"hel", b"lo\n"], errors)
    if shape == "empty":
        return []
    return [b"hello\n"]
