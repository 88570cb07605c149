"""Answers with the status code the query's `code` names (default 200), with its usual reason
phrase, or "Unassigned" for a code that has none."""

from http import HTTPStatus
from urllib.parse import parse_qs


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    code = int(query.get("code", ["200"])[0])
    try:
        reason = HTTPStatus(code).phrase
    except ValueError:
        reason = "Unassigned"
    status = "%d %s" % (code, reason)
    body = ("status %d\n" % code).encode("ascii")
    start_response(status, [("Content-Type", "text/plain")])
    return [body]
