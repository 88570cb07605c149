#!/usr/bin/env rwsgi
"""A response that only finishes once the client has seen its start.

It yields a first chunk ("first chunk\n", repeated as often as the query's `repeat` says), then
waits (polling, for at most 20 seconds) for the file the query's `marker` names, then yields a
last chunk. A test creates that file only after it has read the start of the body, so a last
chunk saying "marker seen" proves the start was passed on while the app was still running.
"""

import os
import time
from urllib.parse import parse_qs

WAIT_SECONDS = 20


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    marker = query.get("marker", [""])[0]
    repeat = int(query.get("repeat", ["1"])[0])

    def body():
        yield b"first chunk\n" * repeat
        deadline = time.monotonic() + WAIT_SECONDS
        while not (marker and os.path.exists(marker)):
            if time.monotonic() > deadline:
                yield b"gave up waiting for the marker\n"
                return
            time.sleep(0.02)
        yield b"marker seen\n"

    start_response("200 OK", [("Content-Type", "text/plain")])
    return body()
