"""Returns its body as a list of `parts` chunks (default 3): b"part 1\n", b"part 2\n", ...

A list's whole length is known before anything is sent, so a gateway may add Content-Length
(PEP 3333, "Handling the Content-Length Header"). With `own_length=1` the app sets
Content-Length itself, in lower case, and the gateway must not add a second one.
"""

from urllib.parse import parse_qs


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    parts = int(query.get("parts", ["3"])[0])
    body = [b"part %d\n" % i for i in range(1, parts + 1)]
    headers = [("Content-Type", "text/plain")]
    if query.get("own_length", ["0"])[0] == "1":
        headers.append(("content-length", str(sum(len(chunk) for chunk in body))))
    start_response("200 OK", headers)
    return body
