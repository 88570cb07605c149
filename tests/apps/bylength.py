"""Reads the request body as PEP 3333 tells an application to ("Input and Error Streams": it
should not read more than CONTENT_LENGTH bytes): exactly CONTENT_LENGTH bytes, in blocks of
64 KiB, and nothing when CONTENT_LENGTH is absent or empty.

Answers with the bytes it read as the body, and headers saying what it saw:
    X-Content-Length   the CONTENT_LENGTH variable, or "(none)"
    X-Read             how many bytes it read
    X-Spooled          the files this process holds open in the temporary folder
                       (tempfile.gettempdir(), which follows TMPDIR), ", "-separated, or
                       "(none)": where the gateway keeps a large body
"""

import os
import tempfile

BLOCK = 64 * 1024


def _open_temp_files():
    tmp = os.path.realpath(tempfile.gettempdir())
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target.startswith(tmp + os.sep):
            found.append(target)
    return sorted(found)


def application(environ, start_response):
    length = environ.get("CONTENT_LENGTH") or None
    remaining = int(length) if length else 0
    stream = environ["wsgi.input"]
    parts = []
    while remaining > 0:
        block = stream.read(min(remaining, BLOCK))
        if not block:
            break
        remaining -= len(block)
        parts.append(block)
    body = b"".join(parts)
    spooled = _open_temp_files()
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/octet-stream"),
            ("X-Content-Length", length or "(none)"),
            ("X-Read", str(len(body))),
            ("X-Spooled", ", ".join(spooled) or "(none)"),
        ],
    )
    return [body]
