"""Raises at the stage the query's `at` names, to check what the server does with an error at
each point of a response (PEP 3333, "Error Handling"):

    call          before start_response
    after_start   after start_response, before returning
    first_chunk   the body iterable raises before yielding anything
    mid_stream    the body iterable raises after yielding two chunks
    close         the body is whole, then the iterable's close() raises
    none          no error

The body iterable writes `closed:<at>` to wsgi.errors when its close() is called, so a test
can see that the server called close() (PEP 3333: "If the iterable returned by the
application has a close() method, the server or gateway must call that method upon completion
of the current request, whether the request was completed normally, or terminated early due
to an application error").
"""

from urllib.parse import parse_qs


class Body:
    def __init__(self, at, errors):
        self.at = at
        self.errors = errors
        self.sent = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.at == "first_chunk":
            raise RuntimeError("raised at first_chunk")
        if self.sent == 2:
            if self.at == "mid_stream":
                raise RuntimeError("raised at mid_stream")
            raise StopIteration
        self.sent += 1
        return b"chunk %d\n" % self.sent

    def close(self):
        self.errors.write("closed:%s\n" % self.at)
        if self.at == "close":
            raise RuntimeError("raised at close")


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    at = query.get("at", ["none"])[0]
    if at == "call":
        raise RuntimeError("raised at call")
    start_response("200 OK", [("Content-Type", "text/plain")])
    if at == "after_start":
        raise RuntimeError("raised at after_start")
    return Body(at, environ["wsgi.errors"])
