#!/usr/bin/env rwsgi
"""Reads the request body in 64 KiB pieces and answers with its length and SHA-256, and with
the two variables that say how the server passed it on."""

import hashlib
import json


def application(environ, start_response):
    stream = environ["wsgi.input"]
    digest = hashlib.sha256()
    length = 0
    while True:
        piece = stream.read(65536)
        if not piece:
            break
        digest.update(piece)
        length += len(piece)
    body = json.dumps(
        {
            "length": length,
            "sha256": digest.hexdigest(),
            "CONTENT_LENGTH": environ.get("CONTENT_LENGTH"),
            "HTTP_TRANSFER_ENCODING": environ.get("HTTP_TRANSFER_ENCODING"),
        },
        sort_keys=True,
    ).encode("ascii")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
