"""An app whose import fails on its own line: the error rwsgi prints must show this file."""

import definitely_missing_dependency  # noqa: F401


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable\n"]
