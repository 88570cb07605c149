"""Leaves a trace of being imported and of being called: appends "imported" and "called"
lines to the file that the RWSGI_TEST_MARKER environment variable names. A test that expects
the request to be refused before the app runs checks that the file never appeared.
"""

import os


def _mark(word):
    with open(os.environ["RWSGI_TEST_MARKER"], "a") as out:
        out.write(word + "\n")


_mark("imported")


def application(environ, start_response):
    _mark("called")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"marker app called\n"]
