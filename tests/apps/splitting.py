"""Tries to split its own response: puts a character that could end a line into the status,
a header name or a header value, followed by text shaped like a second header. The query's
`at` picks the place (status, name, value) and `char` the character:

    cr lf crlf nul       the line ends of HTTP and CGI, and NUL
    u2028 u2029          Unicode's line and paragraph separators (not latin-1)
    u0085                NEL, which is latin-1 (byte 0x85) but a line end to str.splitlines()
    vt ff fs gs rs       the other characters str.splitlines() breaks at, all latin-1

The body is always "body\n".
"""

from urllib.parse import parse_qs

CHARS = {
    "cr": "\r",
    "lf": "\n",
    "crlf": "\r\n",
    "nul": "\x00",
    "u2028": "\u2028",
    "u2029": "\u2029",
    "u0085": "\x85",
    "vt": "\x0b",
    "ff": "\x0c",
    "fs": "\x1c",
    "gs": "\x1d",
    "rs": "\x1e",
}

INJECTED = "Set-Cookie: injected=1"


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    at = query["at"][0]
    char = CHARS[query["char"][0]]
    status = "200 OK"
    headers = [("Content-Type", "text/plain")]
    if at == "status":
        status = "200 OK" + char + INJECTED
    elif at == "name":
        headers.append(("X-Split" + char + "Set-Cookie", "injected=1"))
    else:
        headers.append(("X-Split", "a" + char + INJECTED))
    start_response(status, headers)
    return [b"body\n"]
