"""An app for the FastCGI tests: what a long-lived, forked worker does, seen from outside.

    /pid              the worker's process id (a recycled or replaced worker has a new one)
    /die              the worker kills itself with SIGKILL, as a crash in a C extension would
    /slow?s=SECONDS   logs that it started, then answers after a pause (a request in
                      flight when SIGTERM comes)
    /stream?marker=P  yields a chunk every 50 ms, for at most 10 seconds; its close() writes
                      the file P, so a test can see that close() ran after an abort
    /errors           writes two lines to wsgi.errors, then answers
    /hello            a short answer
"""

import os
import signal
import sys
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/pid":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    if path == "/die":
        os.kill(os.getpid(), signal.SIGKILL)
    if path == "/slow":
        # To the process's stderr, the server's log: the test waits for it before SIGTERM.
        print("slow request started", file=sys.stderr, flush=True)
        time.sleep(float(query.get("s", ["1"])[0]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slow answer\n"]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Stream(query.get("marker", [""])[0])
    if path == "/errors":
        errors = environ["wsgi.errors"]
        errors.write("first line to wsgi.errors\n")
        errors.writelines(["second line to wsgi.errors\n"])
        errors.flush()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"logged\n"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, FastCGI!\n"]


class Stream:
    def __init__(self, marker):
        self.marker = marker

    def __iter__(self):
        deadline = time.monotonic() + 10
        n = 0
        while time.monotonic() < deadline:
            yield b"chunk %d\n" % n
            n += 1
            time.sleep(0.05)

    def close(self):
        if self.marker:
            with open(self.marker, "w") as f:
                f.write("closed")
