"""Answers with the request as the app saw it: the environ's text values and the body.

The query's `read` parameter picks how the body is read from `wsgi.input`, so each of the
stream's methods (PEP 3333, "Input and Error Streams") can be checked from the outside:

    read=all          input.read()
    read=n:K          input.read(K) until b"", then one more read(K) recorded as "eof"
    read=readline     input.readline() until b""
    read=readline:K   input.readline(K) until b""
    read=readlines    input.readlines()
    read=iter         for line in input
    read=none         the body is left unread

Bytes are shown as latin-1 text, so each byte is one character and nothing is lost.

With `log=TEXT` the app also writes to `wsgi.errors` with each of its methods: `log: TEXT`
through write(), two lines through writelines(), then flush().
"""

import hashlib
import json
from urllib.parse import parse_qs


def _read_body(stream, how):
    result = {}
    if how == "none":
        result["body"] = None
        return result, b""
    if how == "all":
        data = stream.read()
    elif how.startswith("n:"):
        size = int(how[2:])
        parts = []
        while True:
            part = stream.read(size)
            if not part:
                break
            parts.append(part)
        result["chunks"] = [len(part) for part in parts]
        result["eof"] = stream.read(size).decode("latin-1")
        data = b"".join(parts)
    elif how == "readline" or how.startswith("readline:"):
        args = (int(how[9:]),) if ":" in how else ()
        lines = []
        while True:
            line = stream.readline(*args)
            if not line:
                break
            lines.append(line)
        result["lines"] = [line.decode("latin-1") for line in lines]
        data = b"".join(lines)
    elif how == "readlines":
        lines = stream.readlines()
        result["lines"] = [line.decode("latin-1") for line in lines]
        data = b"".join(lines)
    elif how == "iter":
        lines = list(stream)
        result["lines"] = [line.decode("latin-1") for line in lines]
        data = b"".join(lines)
    else:
        raise ValueError("unknown read mode: %r" % how)
    result["body"] = data.decode("latin-1")
    return result, data


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    how = query.get("read", ["all"])[0]

    out = {key: value for key, value in environ.items() if isinstance(value, str)}
    out["wsgi.version"] = list(environ["wsgi.version"])
    out["wsgi.url_scheme"] = environ["wsgi.url_scheme"]
    for key in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once"):
        out[key] = environ[key]
    if "wsgi.input_terminated" in environ:
        out["wsgi.input_terminated"] = environ["wsgi.input_terminated"]
    out["has_file_wrapper"] = callable(environ.get("wsgi.file_wrapper"))

    if "log" in query:
        errors = environ["wsgi.errors"]
        errors.write("log: %s\n" % query["log"][0])
        errors.writelines(["log line 1\n", "log line 2\n"])
        errors.flush()

    body, data = _read_body(environ["wsgi.input"], how)
    out.update(body)
    out["body_sha256"] = hashlib.sha256(data).hexdigest()

    payload = json.dumps(out, sort_keys=True).encode("utf-8")
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            # Lets a HEAD request (which prints no body) show which method arrived.
            ("X-Echo-Method", environ["REQUEST_METHOD"]),
        ],
    )
    return [payload]
