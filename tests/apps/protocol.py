"""Breaks one rule of PEP 3333 at a time, chosen by the query's `bad`. Without `bad` (or with
an unknown value) it answers `200 OK` with "ok\n".

Each misbehaviour is named after what it does; the rules are in PEP 3333's "The
start_response() Callable" and "Specification Details" sections.
"""

from urllib.parse import parse_qs

GOOD = [("Content-Type", "text/plain")]


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    bad = query.get("bad", [""])[0]

    if bad == "status_no_reason":
        start_response("200", GOOD)
    elif bad == "status_crlf":
        start_response("200 OK\r\nX-Injected: 1", GOOD)
    elif bad == "status_bytes":
        start_response(b"200 OK", GOOD)
    elif bad == "header_crlf":
        start_response("200 OK", GOOD + [("X-Note", "a\r\nSet-Cookie: x=1")])
    elif bad == "header_nul":
        start_response("200 OK", GOOD + [("X-Note", "a\x00b")])
    elif bad == "header_non_latin1":
        start_response("200 OK", GOOD + [("X-Snow", "\u2603")])
    elif bad == "header_name_space":
        start_response("200 OK", GOOD + [("Bad Name", "v")])
    elif bad == "hop_by_hop":
        start_response(
            "200 OK",
            GOOD
            + [
                ("Connection", "close"),
                ("Transfer-Encoding", "chunked"),
                ("X-Good", "yes"),
            ],
        )
    elif bad == "no_start_response":
        return [b"body without start_response\n"]
    elif bad == "returns_str":
        start_response("200 OK", GOOD)
        return ["a str, not bytes\n"]
    elif bad == "returns_none":
        start_response("200 OK", GOOD)
        return None
    elif bad == "yields_none":
        start_response("200 OK", GOOD)
        return [None]
    elif bad == "second_start_response":
        start_response("200 OK", GOOD)
        start_response("201 Created", GOOD)
    elif bad == "headers_not_list":
        start_response("200 OK", tuple(GOOD))
    else:
        start_response("200 OK", GOOD)
    return [b"ok\n"]
